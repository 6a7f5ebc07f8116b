"""Negative preference optimisation (NPO): L = −(2/β)·log σ(−β·Δ) + α·L_retain,
Δ = log π_θ(y_f|x) − log π_θ₀(y_f|x) (sequence log-probabilities).

Zhang et al. 2024, "Negative Preference Optimization: From Catastrophic Collapse to Effective
Unlearning", arXiv 2404.05868, eq. (3); retain term as in their NPO+RT.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.methods.common import npo_term, retain_loss, seq_logprob
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class NPOConfig:
    beta: float = hp(0.1, 0.1, "inverse temperature β of the preference term")
    gamma: float = hp(1.0, 1.0, "weight of the forget term")
    # quick 10: the NPO term acts on summed sequence log-probs (~15 tokens per answer) while the
    # retain NLL is a per-token mean, so α = 1 lets forgetting swamp the retain set on SmolLM2
    alpha: float = hp(10.0, 1.0, "weight of the retain term")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class NPO(Method):
    info = MethodInfo(
        id="npo",
        name="NPO",
        paper="Zhang et al. 2024, Negative Preference Optimization (arXiv 2404.05868)",
        summary="Treats forget answers as dispreferred relative to the model before (the reference, adapters "
        "off): a bounded, slower-diverging alternative to gradient ascent.",
        needs_retain=False,
        lr=1.5e-3,  # with the quick demo's 8 steps: forget P̃ to 0.3% of before, retain kept (README)
    )
    Config = NPOConfig

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        c = self.cfg
        logp = seq_logprob(self.ctx, b.forget)
        ref = self.ctx.reference_logprob(b.forget, b.forget_examples)  # kept from the before-measurement
        lf = npo_term(logp, ref, c.beta)
        return c.gamma * lf, {"npo": lf.item(), "delta": ((logp - ref).mean()).item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, self.cfg.retain_loss)
        return self.cfg.alpha * lr, {"retain_loss": lr.item()}
