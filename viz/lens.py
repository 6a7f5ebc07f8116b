"""Logit lens before | after | difference: where in the depth of the model an answer token appears.

If after unlearning the answer still rises through the middle layers and is pushed down only at the
end, the knowledge is still in the representation and only its read-out was suppressed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .tokens import shown
from .triptych import triptych

METRICS = {"probability": "log10 p of the gold token", "rank": "log10 (rank + 1) of the gold token"}


def _values(prob: np.ndarray, rank: np.ndarray, metric: str) -> np.ndarray:
    if metric == "probability":
        return np.log10(np.clip(prob, 1e-12, 1.0))
    if metric == "rank":
        return np.log10(rank.astype(float) + 1)
    raise ValueError(f"unknown lens metric {metric!r}: choose one of {', '.join(METRICS)}")


def lens_heatmaps(
    tokens: Sequence[str],
    before: tuple[np.ndarray, np.ndarray],
    after: tuple[np.ndarray, np.ndarray],
    metric: str = "probability",
) -> go.Figure:
    """Three heatmaps, layer (rows, first at the bottom) × answer token (columns): before, after and
    after − before. `before` / `after` are (prob, rank) arrays of shape (L, A) for the A answer
    tokens; `tokens` the A tokens each column predicts."""
    vb, va = _values(*before, metric), _values(*after, metric)
    n_layers, n = vb.shape
    x, y = np.arange(n), np.arange(1, n_layers + 1)
    text = [shown(t) for t in tokens]
    lo, hi = (float(min(vb.min(), va.min())), 0.0) if metric == "probability" else (0.0, float(max(vb.max(), va.max())))
    scale = "Viridis" if metric == "probability" else "Viridis_r"  # bright = the model is sure of the token
    unit = METRICS[metric]
    fig = triptych(
        vb,
        va,
        dict(colorscale=scale, cmin=lo, cmax=hi, colorbar=dict(title=metric, len=0.5)),
        worse_is_negative=metric == "probability",
        x=x,
        y=y,
        customdata=np.broadcast_to(np.array(text, dtype=object), vb.shape),
        hovertemplate="layer %{y}, token %{customdata}<br>%{z:.2f}<extra></extra>",
    )
    fig.update_xaxes(tickvals=x, ticktext=text, tickangle=-60)
    fig.update_yaxes(title="layer", row=1, col=1)
    fig.update_yaxes(dtick=1 if n_layers <= 12 else None)
    fig.update_layout(
        title=f"Logit lens: {unit}, read after every layer", height=480, margin=dict(l=50, r=30, t=70, b=80)
    )
    return fig
