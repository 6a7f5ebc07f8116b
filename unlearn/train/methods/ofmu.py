"""OFMU, first-order form: forget along the part of the forget gradient orthogonal to the retain
gradient, and descend on the retain loss. g = γ·(g_f − β·⟨g_f, g_r⟩/‖g_r‖²·g_r) + g_r.

arXiv 2509.22483. RECONSTRUCTION (first-order): the paper's bi-level penalty method ascends on
L_f − β·cos²(g_f, g_r) in an inner loop and descends on L_r in an outer one; the gradient of the
cos² penalty needs second derivatives. The spec's cheap variant used here projects g_f orthogonal
to g_r (β = 1 removes the whole aligned component) and takes one combined step per iteration.
The forget loss is NPO's, as for BLUR.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.gradients import OrthogonalForget
from unlearn.train.methods.common import npo_and_retain
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class OfmuConfig:
    beta: float = hp(1.0, 1.0, "β: how much of g_f's component along g_r is removed (1 = all)")
    npo_beta: float = hp(0.1, 0.1, "inverse temperature of the NPO forget loss")
    gamma: float = hp(1.0, 1.0, "weight of the forget loss")
    alpha: float = hp(1.0, 1.0, "weight of the retain loss")


@register
class Ofmu(Method):
    info = MethodInfo(
        id="ofmu",
        name="OFMU (first-order)",
        paper="OFMU, penalty-based bi-level unlearning (arXiv 2509.22483)",
        summary="Forgets along the part of the forget gradient orthogonal to the retain gradient and descends on "
        "the retain loss: a first-order stand-in for the paper's penalised bi-level problem.",
        needs_retain=True,
        faithful=False,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = OfmuConfig

    @classmethod
    def own_rule(cls, cfg):
        return OrthogonalForget(cfg.beta)

    def terms(self, b: StepBatch):
        c = self.cfg
        lf, lr = npo_and_retain(self.ctx, b.forget, b.retain, c.npo_beta)
        return c.gamma * lf, c.alpha * lr, {"npo": lf.item(), "retain_loss": lr.item()}
