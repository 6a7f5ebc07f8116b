"""Token-level views of before | after: differing words, probability strips, top-k alternatives.

Pure functions from arrays and strings to Plotly figures or `gr.HighlightedText` values. Tokens go on
numeric axes with text ticks: two identical tokens (" the" twice) must stay two cells.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

BEFORE_COLOUR, AFTER_COLOUR, GOLD_COLOUR = "#457b9d", "#e76f51", "#2a9d8f"
DELTA_SCALE = "RdBu"  # red: the after model finds the token less likely; blue: more likely


def shown(token: str) -> str:
    """A token as a tick label: whitespace made visible, so ' Paris' and 'Paris' differ on screen."""
    return token.replace("\n", "⏎").replace("\t", "⇥").replace(" ", "·") or "∅"


def word_diff(before: str, after: str) -> tuple[list[tuple[str, str | None]], list[tuple[str, str | None]]]:
    """Both texts as `gr.HighlightedText` values: words only in `before` marked "removed", words
    only in `after` marked "added"; shared words unmarked. Whitespace is kept with each word."""
    a, b = re.findall(r"\S+\s*", before), re.findall(r"\S+\s*", after)
    left: list[tuple[str, str | None]] = []
    right: list[tuple[str, str | None]] = []
    m = difflib.SequenceMatcher(a=[w.strip() for w in a], b=[w.strip() for w in b], autojunk=False)
    for op, i1, i2, j1, j2 in m.get_opcodes():
        same = op == "equal"
        left += [(w, None if same else "removed") for w in a[i1:i2]]
        right += [(w, None if same else "added") for w in b[j1:j2]]
    return left, right


def lowest_k(logprobs: np.ndarray, k: float) -> np.ndarray:
    """Mask of the lowest-k share of tokens by log-probability (the Min-K% tokens); at least one."""
    n = max(1, int(np.ceil(k * len(logprobs))))
    mask = np.zeros(len(logprobs), dtype=bool)
    mask[np.argsort(logprobs, kind="stable")[:n]] = True
    return mask


def token_strips(
    tokens: Sequence[str], lp_before: np.ndarray, lp_after: np.ndarray, k: float = 0.2, title: str = ""
) -> go.Figure:
    """Three strips over the answer tokens: log p before, log p after (shared colour scale) and
    Δ = after − before (diverging, centred on 0). ▼ marks each side's lowest-k% tokens."""
    lp_before, lp_after = np.asarray(lp_before, float), np.asarray(lp_after, float)
    x = np.arange(len(tokens))
    text = [shown(t) for t in tokens]
    delta = lp_after - lp_before
    lo = float(min(lp_before.min(), lp_after.min(), -1e-3)) if len(x) else -1.0
    fig = make_subplots(
        rows=3,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.12,
        subplot_titles=("log p before", "log p after", "Δ log p = after − before"),
    )
    for row, z, kw in (
        (1, lp_before, dict(coloraxis="coloraxis")),
        (2, lp_after, dict(coloraxis="coloraxis")),
        (3, delta, dict(coloraxis="coloraxis2")),
    ):
        fig.add_trace(
            go.Heatmap(
                z=[z],
                x=x,
                text=[text],
                texttemplate="%{text}",
                customdata=[np.exp(z) if row < 3 else delta],
                hovertemplate="%{text}<br>%{z:.2f}"
                + ("<br>p = %{customdata:.3g}" if row < 3 else "")
                + "<extra></extra>",
                xgap=1,
                **kw,
            ),
            row,
            1,
        )
    for row, lp, colour in ((1, lp_before, BEFORE_COLOUR), (2, lp_after, AFTER_COLOUR)):
        if not len(lp):
            continue
        marked = x[lowest_k(lp, k)]
        fig.add_trace(
            go.Scatter(
                x=marked,
                y=[0.62] * len(marked),
                mode="markers",
                marker=dict(symbol="triangle-down", size=9, color=colour, line=dict(color="white", width=1)),
                name=f"lowest {k:.0%} ({'before' if row == 1 else 'after'})",
                hoverinfo="skip",
            ),
            row,
            1,
        )
    big = float(np.abs(delta).max()) if len(delta) else 1.0
    fig.update_layout(
        title=title or "Answer tokens: how likely each one is, before and after",
        coloraxis=dict(colorscale="Viridis", cmin=lo, cmax=0, colorbar=dict(title="log p", y=0.72, len=0.55)),
        coloraxis2=dict(
            colorscale=DELTA_SCALE,
            cmid=0,
            cmin=-big,
            cmax=big,
            # three labelled ticks: an automatic axis this short shows only "0"
            colorbar=dict(
                title="Δ", y=0.12, len=0.4, tickvals=[-big, 0, big], ticktext=[f"{-big:.1f}", "0", f"+{big:.1f}"]
            ),
        ),
        height=360,
        margin=dict(l=20, r=20, t=60, b=30),
        legend=dict(orientation="h", y=-0.12),
    )
    fig.update_xaxes(tickvals=x, ticktext=text, tickangle=-45, row=3, col=1)
    fig.update_yaxes(showticklabels=False, range=[-0.5, 0.8])
    return fig


def topk_bars(
    context: str,
    gold: str | None,
    before: tuple[Sequence[str], np.ndarray],
    after: tuple[Sequence[str], np.ndarray],
    gold_rank: tuple[tuple[int, float], tuple[int, float]] | None = None,
) -> go.Figure:
    """The k most likely next tokens at one position, before | after; the gold token in green where
    it is among them, else its rank and probability under that side (`gold_rank`: (rank from 1,
    probability) before and after), so the panel never promises a green bar that is not there."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("before", "after"), horizontal_spacing=0.18)
    missing = []
    for col, (toks, probs) in ((1, before), (2, after)):
        labels = [shown(t) for t in toks]
        colours = [GOLD_COLOUR if gold is not None and t == gold else "#9aa5b1" for t in toks]
        if gold is not None and gold not in toks:
            side = ("before", "after")[col - 1]
            where = "" if gold_rank is None else f": rank {gold_rank[col - 1][0]:,}, p = {gold_rank[col - 1][1]:.2g}"
            missing.append(f"{side}, not in the top {len(toks)}{where}")
        fig.add_trace(
            go.Bar(
                x=list(probs),
                y=list(range(len(toks))),
                orientation="h",
                marker_color=colours,
                text=[f"{p:.3f}" for p in probs],
                textposition="auto",
                hovertext=labels,
                hovertemplate="%{hovertext}: %{x:.4f}<extra></extra>",
                showlegend=False,
            ),
            1,
            col,
        )
        fig.update_yaxes(tickvals=list(range(len(toks))), ticktext=labels, autorange="reversed", row=1, col=col)
        fig.update_xaxes(range=[0, 1], title="probability", row=1, col=col)
    note = ""
    if gold is not None:
        note = f"<br><sub>gold next token {shown(gold)!r}"
        if missing:
            note += ": " + "; ".join(missing) + (" (in green where shown)" if len(missing) < 2 else "")
        else:
            note += " in green"
        note += "</sub>"
    fig.update_layout(
        title=f"Next token after “…{context[-60:]}”{note}",
        height=300,
        margin=dict(l=90, r=20, t=100, b=40),
    )
    return fig
