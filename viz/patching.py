"""Activation patching between before and after (unlearn/inspection/patching.py), drawn.

Two figures, for one item or a set's mean:
- `patching_heatmap`: layer × (component · position group), one panel per direction. Left: how much of
  the gold answer's log-probability comes back when before's activations replace after's at that
  layer (1 = all of it); right: how much of the drop after's activations carry into before.
- `patching_curves`: the per-layer recovery curves (the residual stream at all positions and at the
  question, each layer's attention + MLP alone) and, beside them, the best layers patched together:
  the share of layers it takes to bring half of the answer back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .tokens import DELTA_SCALE

DIRECTIONS = ("before → after: recovery", "after → before: share of the drop carried")
# Shares outside [-1, 1] happen (a layer can overshoot or push the other way); the colours stop there, the
# hover text gives the value.
COLOUR_LIMIT = 1.0
UNCHANGED = "The run left this answer's log-probability as it was (under 0.01 nats): there is nothing to recover."


def row_labels(components: Sequence[str], groups: Sequence[str]) -> list[str]:
    """One heatmap row per (component, group), in the arrays' C × G order."""
    return [f"{c} · {g}" for c in components for g in groups]


def _empty(fig: go.Figure) -> go.Figure:
    fig.add_annotation(text=UNCHANGED, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    return fig


def patching_heatmap(
    recovery: np.ndarray,
    reverse: np.ndarray,
    components: Sequence[str],
    groups: Sequence[str],
    title: str = "Activation patching",
) -> go.Figure:
    """`recovery` and `reverse`: (C, G, L) shares, NaN where the run changed nothing."""
    c, g, n_layers = recovery.shape
    labels = row_labels(components, groups)
    x = np.arange(1, n_layers + 1)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.03, subplot_titles=DIRECTIONS)
    for col, z in ((1, recovery), (2, reverse)):
        fig.add_trace(
            go.Heatmap(
                z=z.reshape(c * g, n_layers),
                x=x,
                y=labels,
                coloraxis="coloraxis",
                hovertemplate="layer %{x}, %{y}<br>%{z:.2f}<extra></extra>",
            ),
            1,
            col,
        )
    fig.update_layout(
        title=title,
        coloraxis=dict(
            colorscale=DELTA_SCALE,  # blue = the answer came back (more likely), as in the token strips
            cmid=0,
            cmin=-COLOUR_LIMIT,
            cmax=COLOUR_LIMIT,
            colorbar=dict(title="share"),
        ),
        height=140 + 28 * c * g,
        margin=dict(l=130, r=30, t=70, b=50),
    )
    fig.update_yaxes(autorange="reversed")  # the residual stream on top, as the rows are listed
    fig.update_xaxes(title="layer")
    return fig if np.isfinite(recovery).any() else _empty(fig)


def patching_curves(
    recovery: np.ndarray,
    components: Sequence[str],
    groups: Sequence[str],
    single: np.ndarray,
    cumulative: np.ndarray,
    title: str = "Where the answer comes back",
) -> go.Figure:
    """Left: recovery per layer; right: the k best layers (by their single-layer recovery) patched
    together, against k as a share of the layers, with the half-way line."""
    n_layers = len(single)
    x = np.arange(1, n_layers + 1)
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        horizontal_spacing=0.08,
        subplot_titles=("one layer patched", "the best layers patched together"),
    )
    if "residual" in components:
        for group, dash in (("all", "solid"), ("question", "dot")):
            if group in groups:
                row = recovery[components.index("residual"), groups.index(group)]
                name = f"residual stream, {group} tokens" if group != "all" else "residual stream, all tokens"
                fig.add_trace(go.Scatter(x=x, y=row, name=name, mode="lines", line=dict(dash=dash)), 1, 1)
    fig.add_trace(go.Scatter(x=x, y=single, name="attention + MLP of the layer", mode="lines+markers"), 1, 1)
    share = x / n_layers
    fig.add_trace(go.Scatter(x=share, y=cumulative, name="best layers together", mode="lines+markers"), 1, 2)
    fig.add_hline(y=0.5, line=dict(dash="dash", color="grey"), row=1, col=2)
    hit = np.flatnonzero(cumulative >= 0.5)
    if len(hit):
        k = int(hit[0]) + 1
        fig.add_annotation(
            x=share[k - 1], y=cumulative[k - 1], text=f"half with {k} of {n_layers}", row=1, col=2, ax=50, ay=40
        )
    fig.update_xaxes(title="layer", row=1, col=1)
    fig.update_xaxes(title="share of layers", tickformat=".0%", row=1, col=2)
    fig.update_yaxes(rangemode="tozero", row=1, col=2)  # the half-way line in view
    fig.update_yaxes(title="recovery", row=1, col=1)
    fig.update_layout(title=title, height=400, legend=dict(orientation="h", y=-0.25), margin=dict(t=70, b=90))
    return fig if np.isfinite(single).any() else _empty(fig)


def patching_summary(best_layer: float | None, for_half: float | None, n_layers: int) -> str:
    """One line for one item: what the two figures say."""
    if best_layer is None or not np.isfinite(best_layer):
        return UNCHANGED
    half = (
        f"the best {round(for_half * n_layers)} of {n_layers} layers together bring half of it back"
        if for_half is not None
        else f"even all {n_layers} layers' attention and MLP outputs together do not bring half of it back"
    )
    return f"The best single layer brings back {best_layer:.0%} of the answer's log-probability; {half}."
