"""IdK-DPO: prefer a refusal over the forget answer, relative to the model before.

L = −(2/β)·log σ(β·(Δ(y_idk) − Δ(y_f))) + α·L_retain, Δ(y) = log π_θ(y|x) − log π_θ₀(y|x)
(sequence log-probabilities), y_idk an "I don't know"-style answer drawn at random per example.

Rafailov et al. 2023, "Direct Preference Optimization", arXiv 2305.18290, eq. (7); used for
unlearning with refusal answers as the preferred side by Maini et al. 2024, TOFU, arXiv 2401.06121.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch.nn.functional as F

from unlearn.train.methods.common import retain_loss, seq_logprob
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class IdkDPOConfig:
    beta: float = hp(0.1, 0.1, "inverse temperature β of the preference term")
    gamma: float = hp(1.0, 1.0, "weight of the forget (preference) term")
    alpha: float = hp(1.0, 1.0, "weight of the retain term")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class IdkDPO(Method):
    info = MethodInfo(
        id="idk_dpo",
        name="IdK-DPO",
        paper="Maini et al. 2024, TOFU (arXiv 2401.06121); Rafailov et al. 2023, DPO (arXiv 2305.18290)",
        summary='DPO with a refusal ("I don\'t know") as the preferred answer and the forget answer as the '
        "dispreferred one, relative to the model before, plus a retain loss.",
        needs_retain=True,
        needs_refusals=True,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = IdkDPOConfig

    def refusal_batch(self, b: StepBatch):
        """The forget questions answered with a refusal, one drawn per example (seeded by run and step)."""
        ctx = self.ctx
        if not ctx.refusals or ctx.encode is None:
            raise ValueError("IdK-DPO needs a list of refusal answers and an encoder: run it through the engine")
        rng = random.Random(ctx.seed + b.step)
        return ctx.encode([replace(e, answer=rng.choice(ctx.refusals)) for e in b.forget_examples])

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        c, ctx = self.cfg, self.ctx
        idk = self.refusal_batch(b)
        d_idk = seq_logprob(ctx, idk) - seq_logprob(ctx, idk, reference=True)  # (B,)
        d_f = seq_logprob(ctx, b.forget) - ctx.reference_logprob(b.forget, b.forget_examples)  # (B,)
        lf = (-(2.0 / c.beta) * F.logsigmoid(c.beta * (d_idk - d_f))).mean()
        logs = {"dpo": lf.item(), "delta_idk": d_idk.mean().item(), "delta_forget": d_f.mean().item()}
        return c.gamma * lf, logs

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, self.cfg.retain_loss)
        return self.cfg.alpha * lr, {"retain_loss": lr.item()}
