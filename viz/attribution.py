"""Captum attributions before | after: which question tokens carry the answer, and whether the
run cut the link (a token that drove the answer before and no longer does)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .tokens import AFTER_COLOUR, BEFORE_COLOUR, shown

UNITS = {
    "gradient": "gradient × input of the answer's log-probability (summed over the embedding)",
    "ablation": "drop in the answer's log-probability when the token is removed",
    "ig": "integrated gradients of the answer's log-probability (summed over the embedding)",
}


def attribution_bars(tokens: Sequence[str], before: np.ndarray, after: np.ndarray, method: str) -> go.Figure:
    """Grouped bars, one pair per question token: attribution before and after (same units)."""
    idx = np.arange(len(tokens))
    text = [shown(t) for t in tokens]
    fig = go.Figure()
    for name, s, colour in (("before", before, BEFORE_COLOUR), ("after", after, AFTER_COLOUR)):
        fig.add_trace(go.Bar(x=idx, y=np.asarray(s, float), name=name, marker_color=colour, hovertext=text))
    fig.update_xaxes(tickvals=idx, ticktext=text, tickangle=-45)
    top = int(np.argmax(np.abs(before))) if len(idx) else 0
    lead = f"; most before: {text[top]!r}" if len(idx) else ""
    fig.update_layout(
        title=f"Attribution to the question tokens{lead}<br><sup>{UNITS.get(method, method)}</sup>",
        yaxis_title="attribution (log-prob units)" if method == "ablation" else "attribution",
        barmode="group",
        height=360,
        margin=dict(l=60, r=20, t=60, b=80),
        legend=dict(orientation="h", y=1.08, x=1, xanchor="right"),
    )
    return fig
