"""Audit figures from plain arrays: REMIND landscapes, feature distributions per split, ROC curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .tokens import AFTER_COLOUR, BEFORE_COLOUR

SPLIT_COLOURS = {"forget": "#e76f51", "retain": "#2a9d8f", "holdout": "#8d99ae"}


def _band(x: np.ndarray, mean: np.ndarray, std: np.ndarray, colour: str, name: str) -> list[go.Scatter]:
    """A mean line with a ±1 std band."""
    upper, lower = mean + std, mean - std
    return [
        go.Scatter(
            x=np.r_[x, x[::-1]],
            y=np.r_[upper, lower[::-1]],
            fill="toself",
            fillcolor=colour,
            opacity=0.2,
            line=dict(width=0),
            hoverinfo="skip",
            showlegend=False,
        ),
        go.Scatter(x=x, y=mean, mode="lines+markers", line=dict(color=colour), name=name),
    ]


def landscape_curve(
    strengths: np.ndarray,
    before: tuple[float, np.ndarray],
    after: tuple[float, np.ndarray],
    title: str = "",
) -> go.Figure:
    """One item's 1-D input-loss landscape: loss against perturbation strength (0 = the item itself),
    mean ± std over its neighbours, before and after. `before` / `after` are (own loss, (J, K) losses)."""
    x = np.r_[0.0, np.asarray(strengths, float)]
    fig = go.Figure()
    for (own, nb), colour, name in ((before, BEFORE_COLOUR, "before"), (after, AFTER_COLOUR, "after")):
        mean = np.r_[own, nb.mean(1)]
        std = np.r_[0.0, nb.std(1)]
        for trace in _band(x, mean, std, colour, name):
            fig.add_trace(trace)
    fig.update_layout(
        title=title or "Input-loss landscape (mean ± std over neighbours)",
        xaxis_title="perturbation strength p (share of question tokens replaced)",
        yaxis_title="answer loss",
        height=340,
        margin=dict(l=60, r=20, t=60, b=50),
    )
    return fig


def feature_distributions(features: np.ndarray, labels: Sequence[str], names: Sequence[str]) -> go.Figure:
    """One box plot per feature, a box per split: which features tell forget, retain and holdout apart."""
    cols = 5
    rows = int(np.ceil(len(names) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=list(names), vertical_spacing=0.12)
    labels = np.asarray(labels)
    for i in range(len(names)):
        r, c = divmod(i, cols)
        for split, colour in SPLIT_COLOURS.items():
            values = features[labels == split, i]
            if len(values):
                fig.add_trace(
                    go.Box(y=values, name=split, marker_color=colour, showlegend=i == 0, legendgroup=split),
                    r + 1,
                    c + 1,
                )
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(
        title="REMIND features by split (after unlearning)", height=230 * rows, margin=dict(l=40, r=20, t=70, b=20)
    )
    return fig


def roc_curves(curves: Mapping[str, tuple[np.ndarray, np.ndarray, float]], title: str = "") -> go.Figure:
    """ROC curves, one per attack: name -> (false-positive rates, true-positive rates, AUC)."""
    fig = go.Figure(
        go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line=dict(dash="dot", color="#999"), name="chance (0.5)")
    )
    for name, (fpr, tpr, area) in curves.items():
        fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=f"{name} ({area:.2f})"))
    fig.update_layout(
        title=title or "Forget vs holdout: ROC curves (AUC in brackets)",
        xaxis=dict(title="false-positive rate", range=[0, 1]),
        yaxis=dict(title="true-positive rate", range=[0, 1]),
        height=420,
        margin=dict(l=60, r=20, t=60, b=50),
    )
    return fig
