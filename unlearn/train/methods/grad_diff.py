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

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        lf = mean_nll(*self.ctx.answer_logits(b.forget))
        return -self.cfg.gamma * lf, {"forget_nll": lf.item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, self.cfg.retain_loss)
        return self.cfg.alpha * lr, {"retain_loss": lr.item()}
