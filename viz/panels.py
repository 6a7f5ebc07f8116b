"""The Compare tab's panels from one comparison's arrays: which slice of the probes each figure shows.

`c` is an `unlearn.inspection.compare.Comparison` (read by attribute only, so viz stays free of torch):
`c.before.probe` / `c.after.probe` hold tokens, gold log-probs, top-k, lens and attention arrays;
`c.before.rollout` / `c.after.rollout` the rollout matrices.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .attention import attention_grid, head_change, head_change_map, head_detail, rollout_bars
from .lens import lens_heatmaps
from .tokens import token_strips, topk_bars


def answer_tokens(c: Any) -> list[str]:
    p = c.before.probe
    return p.tokens[p.answer_start :]


def strips(c: Any, k: float = 0.2) -> go.Figure:
    b, a = c.before.probe, c.after.probe
    s = b.answer_start
    title = f"{c.target.capitalize()}: log-probability of each token, before and after"
    return token_strips(answer_tokens(c), b.gold_logprob[s:], a.gold_logprob[s:], k, title)


def biggest_drop(c: Any) -> int:
    """The answer token whose log-probability fell most: where a teacher would point first."""
    s = c.before.probe.answer_start
    delta = c.after.probe.gold_logprob[s:] - c.before.probe.gold_logprob[s:]
    return int(np.argmin(delta)) if len(delta) else 0


def topk(c: Any, i: int) -> go.Figure:
    """Top-k next tokens where answer token `i` (0-based) is predicted."""
    b, a = c.before.probe, c.after.probe
    i = int(np.clip(i, 0, len(b.tokens) - b.answer_start - 1))
    pos = b.answer_start - 1 + i  # position t predicts token t + 1
    context = "".join(b.tokens[max(0, pos - 12) : pos + 1])
    gold = b.tokens[pos + 1]
    # the lens's last layer is the model's own output: its rank there is the gold token's rank
    ranks = tuple((int(p.lens_rank[-1, pos]) + 1, float(np.exp(p.gold_logprob[pos + 1]))) for p in (b, a))
    return topk_bars(context, gold, (b.top_tokens[pos], b.top_probs[pos]), (a.top_tokens[pos], a.top_probs[pos]), ranks)


def lens(c: Any, metric: str = "probability") -> go.Figure:
    b, a = c.before.probe, c.after.probe
    pos = b.answer_positions
    return lens_heatmaps(
        answer_tokens(c), (b.lens_prob[:, pos], b.lens_rank[:, pos]), (a.lens_prob[:, pos], a.lens_rank[:, pos]), metric
    )


def most_changed_head(c: Any) -> tuple[int, int]:
    """(layer, head), layer 1-based, of the head whose attention moved most."""
    change = head_change(c.before.probe.attentions, c.after.probe.attentions)
    layer, head = np.unravel_index(np.argmax(change), change.shape)
    return int(layer) + 1, int(head)


def change_map(c: Any) -> go.Figure:
    return head_change_map(c.before.probe.attentions, c.after.probe.attentions, c.before.probe.kv_heads)


def grid(c: Any) -> go.Figure:
    return attention_grid(c.before.probe.attentions, c.after.probe.attentions, c.before.probe.kv_heads)


def head(c: Any, layer: int, h: int) -> go.Figure:
    b, a = c.before.probe, c.after.probe
    n_layers, n_heads = b.attentions.shape[:2]
    layer, h = int(np.clip(layer, 1, n_layers)), int(np.clip(h, 0, n_heads - 1))
    return head_detail(b.tokens, b.attentions[layer - 1, h], a.attentions[layer - 1, h], layer, h, b.kv_heads, n_heads)


def rollout(c: Any) -> go.Figure:
    return rollout_bars(c.before.probe.tokens, c.before.rollout, c.after.rollout, c.before.probe.answer_start)


def all_figures(c: Any, k: float = 0.2, metric: str = "probability") -> dict[str, go.Figure]:
    """Every probe panel at its default view (the enlarged head: the one that moved most)."""
    return {
        "Token probabilities": strips(c, k),
        "Top-k alternatives": topk(c, biggest_drop(c)),
        "Logit lens": lens(c, metric),
        "Attention: change per head": change_map(c),
        "Attention: every head": grid(c),
        "Attention: one head": head(c, *most_changed_head(c)),
        "Attention rollout": rollout(c),
    }
