"""Before | after | after − before as three heatmaps with two colour scales: one shared by before
and after (so they compare), one diverging scale centred on 0 for the difference."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .tokens import DELTA_SCALE

TITLES = ("before", "after", "after − before")


def triptych(
    before: np.ndarray,
    after: np.ndarray,
    value_axis: dict[str, Any],
    worse_is_negative: bool = True,
    shared_yaxes: bool = True,
    big: float | None = None,
    **heatmap: Any,
) -> go.Figure:
    """`value_axis`: the before/after colour axis (colorscale, cmin, cmax, colorbar title...).
    `worse_is_negative`: a fall is drawn red (probabilities); False when a rise is worse (ranks) or
    neither (attention weights, drawn red where after gained). `big`: the difference's colour range
    (default: its largest magnitude). `heatmap`: passed to every `go.Heatmap` (x, y, hovertemplate...)."""
    diff = after - before
    if big is None:
        finite = np.abs(diff[np.isfinite(diff)])
        big = float(finite.max()) if finite.size else 0.0
    fig = make_subplots(rows=1, cols=3, shared_yaxes=shared_yaxes, horizontal_spacing=0.04, subplot_titles=TITLES)
    for col, z, axis in ((1, before, "coloraxis"), (2, after, "coloraxis"), (3, diff, "coloraxis2")):
        fig.add_trace(go.Heatmap(z=z, coloraxis=axis, **heatmap), 1, col)
    colorbar = {"x": 1.0, "len": 0.45, "y": 0.75, **value_axis.pop("colorbar", {})}
    fig.update_layout(
        coloraxis={**value_axis, "colorbar": colorbar},
        coloraxis2=dict(
            colorscale=DELTA_SCALE if worse_is_negative else DELTA_SCALE + "_r",
            cmid=0,
            cmin=-(big or 1e-6),
            cmax=big or 1e-6,
            colorbar=dict(title="Δ", x=1.0, len=0.45, y=0.22),
        ),
    )
    return fig
