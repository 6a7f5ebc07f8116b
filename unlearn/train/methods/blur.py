"""BLUR: bi-level unlearning. Separate backward passes give g_f (forget loss, NPO by default) and
g_r (retain NLL); the step is g = g_r + (γ − ⟨g_r, g_f⟩/‖g_f‖²)·g_f: the whole forget step plus
the part of the retain gradient orthogonal to it, so the retain update never undoes forgetting.

arXiv 2506.08164 (code: OptimAI-Lab/BLURLLMUnlearning), as the spec states it; γ = 1.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.gradients import BlurRule
from unlearn.train.methods.common import npo_and_retain
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class BlurConfig:
    beta: float = hp(0.1, 0.1, "inverse temperature β of the NPO forget loss")
    gamma: float = hp(1.0, 1.0, "γ: weight of the forget step in the combined gradient")
    alpha: float = hp(1.0, 1.0, "weight of the retain loss (scales g_r)")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class Blur(Method):
    info = MethodInfo(
        id="blur",
        name="BLUR",
        paper="BLUR, bi-level unlearning (arXiv 2506.08164; code OptimAI-Lab/BLURLLMUnlearning)",
        summary="Takes the forget (NPO) and retain gradients apart and steps on the forget gradient plus the part "
        "of the retain gradient orthogonal to it.",
        needs_retain=True,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = BlurConfig

    @classmethod
    def own_rule(cls, cfg):
        return BlurRule(cfg.gamma)

    def terms(self, b: StepBatch):
        c = self.cfg
        lf, lr = npo_and_retain(self.ctx, b.forget, b.retain, c.beta, c.retain_loss)  # γ enters through the rule
        return lf, c.alpha * lr, {"npo": lf.item(), "retain_loss": lr.item()}
