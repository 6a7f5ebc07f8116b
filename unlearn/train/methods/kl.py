"""KL minimisation: L = −ℓ(x_f) + α·KL(p_θ₀(·|x_r) ‖ p_θ(·|x_r)).

TOFU baseline (Maini et al. 2024, arXiv 2401.06121): ascent on the forget set while keeping the
retain-set next-token distributions close to the model before unlearning.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import mean_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class KLConfig:
    gamma: float = hp(1.0, 1.0, "weight of the forget term")
    alpha: float = hp(1.0, 1.0, "weight of the KL retain term")


@register
class KLMin(Method):
    info = MethodInfo(
        id="kl",
        name="KL minimisation",
        paper="Maini et al. 2024, TOFU: A Task of Fictitious Unlearning for LLMs (arXiv 2401.06121)",
        summary="Gradient ascent on the forget set; on the retain set, stay close (KL) to the model before.",
        needs_retain=True,
        lr=1e-3,
    )
    Config = KLConfig

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        lf = mean_nll(*self.ctx.answer_logits(b.forget))
        return -self.cfg.gamma * lf, {"forget_nll": lf.item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, "kl")
        return self.cfg.alpha * lr, {"retain_kl": lr.item()}
