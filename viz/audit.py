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
            mode="lines",
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


def leading_features(features: np.ndarray, labels: Sequence[str], n: int = 2) -> list[int]:
    """The n features whose split means differ most relative to their spread within splits
    (a one-way ANOVA F ratio): the axes that best show forget / retain / holdout apart."""
    labels = np.asarray(labels)
    groups = [features[labels == s] for s in SPLIT_COLOURS if (labels == s).any()]
    grand = features.mean(0)
    between = sum(len(g) * (g.mean(0) - grand) ** 2 for g in groups)
    within = sum(((g - g.mean(0)) ** 2).sum(0) for g in groups) + 1e-12
    return [int(i) for i in np.argsort(-(between / within))[:n]]


def feature_scatter(features: np.ndarray, labels: Sequence[str], names: Sequence[str]) -> go.Figure:
    """Every item on the two leading features, coloured by split."""
    i, j = leading_features(features, labels)
    labels = np.asarray(labels)
    fig = go.Figure()
    for split, colour in SPLIT_COLOURS.items():
        mask = labels == split
        if mask.any():
            fig.add_trace(
                go.Scatter(
                    x=features[mask, i],
                    y=features[mask, j],
                    mode="markers",
                    name=split,
                    marker=dict(color=colour, size=9, line=dict(width=1, color="white")),
                )
            )
    fig.update_layout(
        title=f"Items on the two features that separate the splits most: {names[i]} × {names[j]}",
        xaxis_title=names[i],
        yaxis_title=names[j],
        height=380,
        margin=dict(l=60, r=20, t=60, b=50),
    )
    return fig


def landscape_grid(
    strengths: np.ndarray,
    items: Sequence[tuple[str, tuple[float, np.ndarray], tuple[float, np.ndarray]]],
    cols: int = 4,
) -> go.Figure:
    """Small multiples of `landscape_curve`: (title, before, after) per item, same axes for all."""
    rows = int(np.ceil(len(items) / cols))
    fig = make_subplots(
        rows, cols, subplot_titles=[t for t, _, _ in items], shared_yaxes=True, vertical_spacing=0.5 / max(rows, 1)
    )
    x = np.r_[0.0, np.asarray(strengths, float)]
    for n, (_, *sides) in enumerate(items):
        r, c = divmod(n, cols)
        for (own, nb), colour, name in zip(sides, (BEFORE_COLOUR, AFTER_COLOUR), ("before", "after"), strict=True):
            nb = np.asarray(nb, float)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=np.r_[own, nb.mean(1)],
                    error_y=dict(type="data", array=np.r_[0.0, nb.std(1)], visible=True, thickness=1),
                    mode="lines+markers",
                    line=dict(color=colour),
                    name=name,
                    legendgroup=name,
                    showlegend=n == 0,
                ),
                r + 1,
                c + 1,
            )
    fig.update_annotations(font_size=10)
    fig.update_layout(
        title="Input-loss landscapes of the forget items (answer loss against perturbation strength, ± std)",
        height=max(260 * rows, 300),
        margin=dict(l=50, r=20, t=80, b=40),
    )
    return fig
