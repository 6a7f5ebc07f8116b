"""Attention before | after: which heads changed, every head as a thumbnail, one head enlarged,
and attention rollout.

Arrays are (L, H, T, T), rows queries and columns keys, one map per *query* head. With grouped-query
attention several query heads share one key/value head; the grid puts a wider gap between groups
and the labels say which group a head reads (`kv_heads`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from .tokens import shown
from .triptych import triptych

THUMB = 12  # thumbnails are pooled to at most THUMB x THUMB cells: 30 x 9 full maps would be megabytes


def head_change(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(L, H): how far each head's attention moved, as the mean over queries of the total
    variation distance ½ Σ_keys |after − before| (0: unchanged, 1: attends elsewhere entirely)."""
    diff = np.abs(after.astype(np.float32) - before.astype(np.float32))  # (L, H, T, T)
    return 0.5 * diff.sum(-1).mean(-1)


def head_change_map(before: np.ndarray, after: np.ndarray, kv_heads: int) -> go.Figure:
    """Layer × head heatmap of `head_change`: the heads the run changed most stand out."""
    change = head_change(before, after)
    n_layers, n_heads = change.shape
    group = max(n_heads // max(kv_heads, 1), 1)
    fig = go.Figure(
        go.Heatmap(
            z=change,
            x=[f"h{h} (kv{h // group})" for h in range(n_heads)],
            y=np.arange(1, n_layers + 1),
            colorscale="Reds",
            zmin=0,
            zmax=max(float(change.max()), 1e-3),  # an unchanged model stays white, not mid-scale
            colorbar=dict(title="TV"),
            hovertemplate="layer %{y}, head %{x}<br>moved %{z:.3f}<extra></extra>",
        )
    )
    top = np.unravel_index(np.argmax(change), change.shape)
    fig.update_layout(
        title=f"How much each head's attention moved (most: layer {top[0] + 1}, head {top[1]}: {change.max():.3f})",
        yaxis_title="layer",
        height=460,
        margin=dict(l=50, r=20, t=60, b=40),
    )
    return fig


def pool(att: np.ndarray, size: int) -> np.ndarray:
    """Average-pool the last two axes (T, T) to at most (size, size), splitting them evenly."""
    t = att.shape[-1]
    edges = np.linspace(0, t, min(size, t) + 1).astype(int)[:-1]
    counts = np.diff(np.append(edges, t))
    summed = np.add.reduceat(np.add.reduceat(att.astype(np.float64), edges, axis=-2), edges, axis=-1)
    return summed / counts[:, None] / counts[None, :]


def mosaic(att: np.ndarray, kv_heads: int, size: int = THUMB) -> np.ndarray:
    """Every head as a pooled thumbnail in one array: layers down (first at the top), heads across;
    NaN gaps between thumbnails, a double gap between key/value groups."""
    n_layers, n_heads = att.shape[:2]
    thumbs = pool(att, size)  # (L, H, s, s)
    s = thumbs.shape[-1]
    group = max(n_heads // max(kv_heads, 1), 1)
    col0 = [h * (s + 1) + (h // group) for h in range(n_heads)]
    out = np.full((n_layers * (s + 1), col0[-1] + s), np.nan, dtype=np.float32)  # float32: half the bytes sent
    for layer in range(n_layers):
        for h in range(n_heads):
            out[layer * (s + 1) : layer * (s + 1) + s, col0[h] : col0[h] + s] = thumbs[layer, h]
    return out


def attention_grid(before: np.ndarray, after: np.ndarray, kv_heads: int) -> go.Figure:
    """Side by side: every head before, every head after, and after − before, as thumbnails."""
    b, a = mosaic(before, kv_heads), mosaic(after, kv_heads)
    d = a - b
    s = min(THUMB, before.shape[-1])
    # attention sinks (most weight on the first token) would wash everything else out: clip at p99
    hi = float(np.nanpercentile(np.concatenate([b[~np.isnan(b)], a[~np.isnan(a)]]), 99)) or 1.0
    big = float(np.nanpercentile(np.abs(d[~np.isnan(d)]), 99.5)) or 1e-6
    fig = triptych(
        b,
        a,
        dict(colorscale="Blues", cmin=0, cmax=hi, colorbar=dict(title="weight")),
        False,
        False,
        big,
        hoverinfo="skip",
    )
    n_layers, n_heads = before.shape[:2]
    group = max(n_heads // max(kv_heads, 1), 1)
    ticks = [h * (s + 1) + (h // group) + s / 2 for h in range(n_heads)]
    fig.update_xaxes(tickvals=ticks, ticktext=[f"h{h}" for h in range(n_heads)], showgrid=False)
    fig.update_yaxes(
        tickvals=[layer * (s + 1) + s / 2 for layer in range(n_layers)],
        ticktext=[f"L{layer + 1}" for layer in range(n_layers)],
        autorange="reversed",
        showgrid=False,
    )
    fig.update_layout(
        title=f"Every head (layers down, heads across; {kv_heads} key/value groups), pooled to ≤{THUMB}×{THUMB}",
        height=max(420, 22 * n_layers),
        margin=dict(l=50, r=30, t=70, b=30),
    )
    return fig


def head_detail(
    tokens: Sequence[str], before: np.ndarray, after: np.ndarray, layer: int, head: int, kv_heads: int, n_heads: int
) -> go.Figure:
    """One head at full resolution (T × T, token labels): before, after, after − before.
    `before` / `after` are that head's (T, T) maps; `layer` is 1-based."""
    text = [shown(t) for t in tokens]
    idx = np.arange(len(tokens))
    fig = triptych(
        before.astype(np.float32),
        after.astype(np.float32),
        dict(colorscale="Blues", cmin=0, colorbar=dict(title="weight")),
        worse_is_negative=False,
        x=idx,
        y=idx,
        hovertemplate="query %{y} → key %{x}<br>%{z:.3f}<extra></extra>",
    )
    fig.update_xaxes(tickvals=idx, ticktext=text, tickangle=-90, tickfont=dict(size=8))
    fig.update_yaxes(tickvals=idx, ticktext=text, tickfont=dict(size=8), autorange="reversed", row=1, col=1)
    group = max(n_heads // max(kv_heads, 1), 1)
    fig.update_layout(
        title=f"Layer {layer}, head {head} (key/value head {head // group}): rows are queries, columns keys",
        height=560,
        margin=dict(l=80, r=30, t=70, b=100),
    )
    return fig


def rollout_bars(tokens: Sequence[str], before: np.ndarray, after: np.ndarray, answer_start: int) -> go.Figure:
    """Attention rollout read from the answer: for each prompt token, the share of the answer
    tokens' rolled-out attention it receives (mean over answer rows of the (T, T) rollout), before
    and after. `before` / `after` are rollout matrices.

    The first token is an attention sink in most LLMs (it takes nearly all of the rollout) and
    would flatten every other bar: it is left out and its share given in the title."""
    end = answer_start if answer_start < len(tokens) else len(tokens)
    rows = slice(answer_start, None) if answer_start < len(tokens) else slice(-1, None)
    idx = np.arange(1, end)
    text = [shown(tokens[i]) for i in idx]
    fig = go.Figure()
    sink = []
    for name, r, colour in (("before", before, "#457b9d"), ("after", after, "#e76f51")):
        share = r[rows].mean(0)  # (T,)
        sink.append(share[0])
        fig.add_trace(go.Bar(x=idx, y=share[idx], name=name, marker_color=colour, hovertext=text))
    fig.update_xaxes(tickvals=idx, ticktext=text, tickangle=-90, tickfont=dict(size=8))
    fig.update_layout(
        title="Attention rollout: how much the answer draws on each prompt token (all layers, residual included)"
        f"<br><sup>the first token, an attention sink, takes {sink[0]:.1%} before and {sink[1]:.1%} after; "
        "not drawn</sup>",
        barmode="group",
        yaxis_title="rolled-out attention",
        height=380,
        margin=dict(l=60, r=20, t=70, b=100),
        legend=dict(orientation="h", y=1.12, x=1, xanchor="right"),
    )
    return fig
