"""Gradient ascent (GA): maximise the forget loss, L = −ℓ(x_f).

Jang et al. 2023, "Knowledge Unlearning for Mitigating Privacy Risks in Language Models",
arXiv 2210.01504. Unbounded: run too long and the model collapses into gibberish.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import mean_nll
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, register


@dataclass
class GAConfig:
    pass


@register
class GradientAscent(Method):
    info = MethodInfo(
        id="ga",
        name="Gradient ascent",
        paper="Jang et al. 2023, Knowledge Unlearning for Mitigating Privacy Risks in LMs (arXiv 2210.01504)",
        summary="Pushes the forget answers' likelihood down, with no retain term: collapses if run long.",
        needs_retain=False,
        lr=1e-3,
    )
    Config = GAConfig

    def terms(self, b: StepBatch):
        lf = mean_nll(*self.ctx.answer_logits(b.forget))
        return -lf, self.zero(), {"forget_nll": lf.item()}
