"""Weighted gradient ascent (WGA): gradient ascent with each token weighted by its own probability.

L = −mean_t[ sg(p_θ(y_t))^β · CE_t ] + α·L_retain, sg = stop-gradient.

Wang et al. 2025, "Rethinking LLM Unlearning Objectives: A Gradient Perspective and Go Beyond",
arXiv 2502.19301, sec. 4. Tokens already forgotten (p → 0) stop contributing, which bounds the
ascent that makes plain GA collapse.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import token_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class WGAConfig:
    beta: float = hp(1.0, 1.0, "exponent β of the probability weight")
    gamma: float = hp(1.0, 1.0, "weight of the forget term")
    alpha: float = hp(1.0, 1.0, "weight of the retain term")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class WGA(Method):
    info = MethodInfo(
        id="wga",
        name="Weighted gradient ascent",
        paper="Wang et al. 2025, Rethinking LLM Unlearning Objectives: A Gradient Perspective (arXiv 2502.19301)",
        summary="Gradient ascent on the forget answers with each token weighted by its (detached) probability "
        "to the power β, plus a retain loss.",
        needs_retain=True,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = WGAConfig

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        c = self.cfg
        nll, mask = token_nll(*self.ctx.answer_logits(b.forget))  # (B, T-1), zero off the answer
        weight = (-nll).detach().exp() ** c.beta  # p_θ(y_t)^β, no gradient through the weight
        lf = -(weight * nll).sum() / mask.sum().clamp(min=1)
        return c.gamma * lf, {"wga": lf.item(), "forget_nll": (nll.sum() / mask.sum().clamp(min=1)).item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, self.cfg.retain_loss)
        return self.cfg.alpha * lr, {"retain_loss": lr.item()}
