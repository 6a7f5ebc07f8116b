"""REMIND's 2-D loss surface of one item as heatmaps: before | after | after − before."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots


def surface_heatmaps(
    strengths: np.ndarray,
    ranks: np.ndarray,
    before: tuple[float, np.ndarray],
    after: tuple[float, np.ndarray],
    title: str = "",
) -> go.Figure:
    """`before` / `after` are (the item's own loss, (M, P) mean neighbour losses over ranks × strengths).
    The p = 0 column is the item itself, so every row starts from its own loss."""
    x = ["0 (item)"] + [f"{p:g}" for p in strengths]
    y = [f"m={m}" for m in ranks]
    grids = [np.c_[np.full(len(ranks), own), grid] for own, grid in (before, after)]
    diff = grids[1] - grids[0]
    lo, hi = float(min(g.min() for g in grids)), float(max(g.max() for g in grids))
    fig = make_subplots(
        1,
        3,
        subplot_titles=["before", "after", "after − before"],
        horizontal_spacing=0.09,
        shared_yaxes=True,
    )
    for c, g in enumerate(grids, start=1):
        fig.add_trace(
            go.Heatmap(
                z=g,
                x=x,
                y=y,
                zmin=lo,
                zmax=hi,
                colorscale="Viridis",
                colorbar=dict(title="loss", x=0.645, xanchor="left", thickness=12, len=0.9),
                showscale=c == 1,
                hovertemplate="p %{x}, %{y}: loss %{z:.3f}<extra></extra>",
            ),
            1,
            c,
        )
    span = float(np.abs(diff).max()) or 1.0
    fig.add_trace(
        go.Heatmap(
            z=diff,
            x=x,
            y=y,
            zmid=0,
            zmin=-span,
            zmax=span,
            colorscale="RdBu_r",
            colorbar=dict(title="Δ", x=1.01, xanchor="left", thickness=12, len=0.9),
            hovertemplate="p %{x}, %{y}: Δ %{z:+.3f}<extra></extra>",
        ),
        1,
        3,
    )
    fig.update_xaxes(title_text="perturbation strength p")
    fig.update_yaxes(title_text="neighbour rank m", col=1)
    fig.update_layout(
        title=title or "2-D loss surface (mean neighbour loss over strength × rank)",
        height=330,
        margin=dict(l=70, r=30, t=70, b=50),
    )
    return fig
