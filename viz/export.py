"""Figures to one self-contained HTML page: plotly.js inlined once, so the file opens offline."""

from __future__ import annotations

import html
from collections.abc import Mapping

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs


def figures_html(title: str, figures: Mapping[str, go.Figure], notes: list[str] | None = None) -> str:
    """One page with a heading, optional notes and every figure under its name, in order."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}h2{margin-top:2em}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p>{html.escape(n)}</p>" for n in notes or []]
    for name, fig in figures.items():
        parts.append(f"<h2>{html.escape(name)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False))
    parts.append("</body></html>")
    return "\n".join(parts)
