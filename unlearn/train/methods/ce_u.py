"""CE-U (cross-entropy unlearning): cross-entropy toward the model's own distribution with the
true token removed.

L = mean_t CE(z_t, softmax(sg(z_t) with z_t,y_t = −∞)), sg = stop-gradient, over the forget answer
positions except the first one.

Yang et al. 2025, "CE-U: Cross Entropy Unlearning", arXiv 2503.01224, eq. (3). The target is built
from the CURRENT logits, detached (as in the authors' code and open-unlearning's `ceu.py`), so its
gradient is softmax(z) − target: it lowers p(y_t) and spreads the mass over the other tokens in
proportion, and it vanishes as p(y_t) → 0 (bounded, unlike gradient ascent). The first answer token
is skipped following the paper's training-settings footnote.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from unlearn.data.prompts import IGNORE
from unlearn.train.losses import shift, soft_target_ce
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


def drop_first_answer_tokens(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Labels with the first `n` answer tokens of each row set to IGNORE."""
    answer = labels != IGNORE  # (B, T)
    return labels.masked_fill(answer & (answer.cumsum(1) <= n), IGNORE)


def ceu_target(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """softmax of the detached, shifted logits with the true token's logit at −∞: (B, T-1, V)."""
    lg, target, _ = shift(logits.detach(), labels)  # (B, T-1, V), (B, T-1)
    return lg.scatter(-1, target.unsqueeze(-1), float("-inf")).softmax(-1)


@dataclass
class CEUConfig:
    skip_first: int = hp(1, 1, "answer tokens skipped at the start of each answer")


@register
class CEU(Method):
    info = MethodInfo(
        id="ce_u",
        name="CE-U",
        paper="Yang et al. 2025, CE-U: Cross Entropy Unlearning (arXiv 2503.01224)",
        summary="Cross-entropy toward the model's own (detached) next-token distribution with the true token "
        "removed: lowers each forget token's probability and stops once it is gone.",
        needs_retain=False,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = CEUConfig

    def terms(self, b: StepBatch):
        logits, labels = self.ctx.answer_logits(b.forget)
        labels = drop_first_answer_tokens(labels, self.cfg.skip_first)
        lf = soft_target_ce(logits, ceu_target(logits, labels), labels)
        return lf, self.zero(), {"ce_u": lf.item()}
