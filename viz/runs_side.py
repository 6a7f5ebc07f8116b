"""Several runs on one item, drawn (unlearn/inspection/runs_side.py): one row per model.

- `side_strips`: the gold answer's tokens (columns) under before and every run (rows), coloured by
  log p, the position the view points at outlined.
- `side_topk`: the top-k next tokens at that position, one panel per model, the gold token in green.
- `side_rows`: the table, one row per model: its answer, forget / retain P̃ and its audit's headline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .tokens import GOLD_COLOUR, shown

SIDE_HEADERS = ["model", "answer (greedy)", "forget P̃ before → after", "retain P̃ before → after", "audit"]
AUDIT_NAMES = {
    "remind_auc": "REMIND AUC",
    "loss_auc_after": "LOSS AUC",
    "model_utility_after": "model utility",
    "retain_utility_after": "retain utility",
}


def side_strips(
    tokens: Sequence[str], labels: Sequence[str], logprobs: Sequence[np.ndarray], position: int
) -> go.Figure:
    """`logprobs[r]` (A,) for model r; the rows top to bottom in the order given."""
    z = np.stack([np.asarray(lp, float) for lp in logprobs]) if len(tokens) else np.zeros((len(labels), 0))
    text = [shown(t) for t in tokens]
    x = np.arange(len(tokens))
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=x,
            y=list(labels),
            text=[text] * len(labels),
            texttemplate="%{text}",
            customdata=np.exp(z),
            colorscale="Viridis",
            zmax=0,
            colorbar=dict(title="log p"),
            hovertemplate="%{y}<br>%{text}: log p %{z:.2f}, p = %{customdata:.3g}<extra></extra>",
            xgap=1,
            ygap=2,
        )
    )
    if len(tokens):
        fig.add_shape(
            type="rect",
            x0=position - 0.5,
            x1=position + 0.5,
            y0=-0.5,
            y1=len(labels) - 0.5,
            line=dict(color="#e76f51", width=3),
        )
    fig.update_layout(
        title="The gold answer's tokens under each model (outlined: the biggest drop under any run)",
        height=120 + 46 * len(labels),
        margin=dict(l=220, r=20, t=60, b=60),
    )
    fig.update_xaxes(tickvals=x, ticktext=text, tickangle=-45)
    fig.update_yaxes(autorange="reversed")
    return fig


def side_topk(
    labels: Sequence[str], tops: Sequence[tuple[Sequence[str], np.ndarray]], gold: str | None, context: str
) -> go.Figure:
    """One bar panel per model: its top-k next tokens and their probabilities at the same position."""
    fig = make_subplots(rows=1, cols=len(labels), subplot_titles=[lb[:28] for lb in labels], horizontal_spacing=0.06)
    for col, (toks, probs) in enumerate(tops, 1):
        names = [shown(t) for t in toks]
        fig.add_trace(
            go.Bar(
                x=list(probs),
                y=list(range(len(toks))),
                orientation="h",
                marker_color=[GOLD_COLOUR if t == gold else "#9aa5b1" for t in toks],
                text=names,
                textposition="auto",
                hovertemplate="%{text}: %{x:.4f}<extra></extra>",
                showlegend=False,
            ),
            1,
            col,
        )
        fig.update_yaxes(showticklabels=False, autorange="reversed", row=1, col=col)
        fig.update_xaxes(range=[0, 1], row=1, col=col)
    gold_note = f" (gold {shown(gold)!r} in green)" if gold is not None else ""
    fig.update_layout(
        title=f"Next token after “…{context[-50:]}”{gold_note}",
        height=300,
        margin=dict(l=20, r=20, t=90, b=40),
    )
    return fig


def _p(figures: dict[str, Any], key: str) -> str:
    before, after = figures.get(f"{key}_before"), figures.get(f"{key}_after")
    if before is None or after is None:
        return "—"
    return f"{before:.3f} → {after:.3f}"


def side_rows(labels: Sequence[str], answers: Sequence[str], figures: Sequence[dict[str, Any]]) -> list[list[str]]:
    """The table's rows (SIDE_HEADERS), one per model; before has no run figures."""
    rows = []
    for label, answer, figs in zip(labels, answers, figures, strict=True):
        audit = ", ".join(f"{name} {figs[k]:.2f}" for k, name in AUDIT_NAMES.items() if figs.get(k) is not None)
        run = bool(figs)
        rows.append(
            [
                label,
                answer or "(no text)",
                _p(figs, "forget_prob") if run else "",
                _p(figs, "retain_prob") if run else "",
                audit or ("not audited" if run else ""),
            ]
        )
    return rows
