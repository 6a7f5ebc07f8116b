"""Figures and tables to one self-contained HTML page (plotly.js inlined once, so the file opens
offline), and every figure as one JSON object."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
from plotly.offline import get_plotlyjs

STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}h2{margin-top:2em}"
    "table{border-collapse:collapse;font-size:14px;margin:0.5em 0}"
    "td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}"
    "th{background:#f4f4f4}.note{color:#444}"
)


def table_html(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page_html(title: str, sections: Sequence[tuple[str, go.Figure | str]], notes: Sequence[str] = ()) -> str:
    """One page: a heading, notes, then each section's heading and its figure or (trusted) HTML."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{STYLE}</style>",
        f"<script>{get_plotlyjs()}</script></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    parts += [f"<p class='note'>{html.escape(n)}</p>" for n in notes]
    for name, content in sections:
        parts.append(f"<h2>{html.escape(name)}</h2>")
        if isinstance(content, go.Figure):
            parts.append(content.to_html(full_html=False, include_plotlyjs=False))
        else:
            parts.append(content)
    parts.append("</body></html>")
    return "\n".join(parts)


def figures_html(title: str, figures: Mapping[str, go.Figure], notes: list[str] | None = None) -> str:
    """Every figure under its name, in order."""
    return page_html(title, list(figures.items()), notes or [])


def figures_json(figures: Mapping[str, go.Figure]) -> str:
    """{name: plotly figure JSON} (plotly's encoder: NaN becomes null, arrays become lists)."""
    return "{" + ",".join(f"{json.dumps(name)}:{pio.to_json(fig)}" for name, fig in figures.items()) + "}"
