"""SimNPO: L = −(2/β)·log σ(β·(NLL_θ(x_f)/|y| − δ))·γ + α·L_retain — NPO without a reference,
length-normalised.

Fan et al. 2024, "Simplicity Prevails: Rethinking Negative Preference Optimization for LLM
Unlearning", arXiv 2410.07163, eq. (4).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F

from unlearn.train.losses import sequence_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class SimNPOConfig:
    # quick 1.0: at β = 4.5 the sigmoid saturates for answers the model only half knows (L̄ ≈ 1.5,
    # P̃ ≈ 0.2) and the gradient vanishes; the paper's setting assumes memorised answers (L̄ ≈ 0)
    beta: float = hp(1.0, 4.5, "inverse temperature β")
    delta: float = hp(0.0, 0.0, "reward margin δ")
    gamma: float = hp(1.0, 0.125, "weight of the forget term")
    alpha: float = hp(1.0, 1.0, "weight of the retain term")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class SimNPO(Method):
    info = MethodInfo(
        id="simnpo",
        name="SimNPO",
        paper="Fan et al. 2024, Simplicity Prevails: Rethinking NPO for LLM Unlearning (arXiv 2410.07163)",
        summary="NPO with the length-normalised likelihood and no reference model.",
        needs_retain=False,
        lr=1e-3,
    )
    Config = SimNPOConfig

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        c = self.cfg
        nll, n = sequence_nll(*self.ctx.answer_logits(b.forget))
        lf = (-(2.0 / c.beta) * F.logsigmoid(c.beta * (nll / n - c.delta))).mean()
        return c.gamma * lf, {"simnpo": lf.item(), "forget_nll": ((nll / n).mean()).item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, self.cfg.retain_loss)
        return self.cfg.alpha * lr, {"retain_loss": lr.item()}
