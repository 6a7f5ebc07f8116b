"""Gradient difference: L = −γ·ℓ(x_f) + α·L_retain.

Liu et al. 2022, "Continual Learning and Private Unlearning", arXiv 2203.12817 (as used by TOFU,
Maini et al. 2024, arXiv 2401.06121).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import mean_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class GradDiffConfig:
    gamma: float = hp(1.0, 1.0, "weight of the forget term")
    alpha: float = hp(1.0, 1.0, "weight of the retain term")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class GradDiff(Method):
    info = MethodInfo(
        id="grad_diff",
        name="Gradient difference",
        paper="Liu et al. 2022, Continual Learning and Private Unlearning (arXiv 2203.12817); TOFU baseline",
        summary="Gradient ascent on the forget set plus ordinary descent on the retain set.",
        needs_retain=True,
        lr=1e-3,
    )
    Config = GradDiffConfig

    def terms(self, b: StepBatch):
        c = self.cfg
        lf = mean_nll(*self.ctx.answer_logits(b.forget))
        lr = retain_loss(self.ctx, b.retain, c.retain_loss)
        return -c.gamma * lf, c.alpha * lr, {"forget_nll": lf.item(), "retain_loss": lr.item()}
