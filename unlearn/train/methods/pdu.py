"""Primal-dual unlearning (PDU): flatten the forget logits subject to a retain-loss constraint.

L = L_f + λ·(ℓ(x_r) − ε), L_f = mean_t (max_v z_t,v − mean_v z_t,v)² over forget answer positions;
after each optimizer step past the warm-up, the dual step λ ← max(0, λ + η·(ℓ(x_r) − ε)).

Entesari et al. 2025, "Constrained Entropic Unlearning: A Primal-Dual Framework for Large Language
Models", arXiv 2506.05314 (logit-margin forget loss, sec. 4; dual ascent on λ, alg. 1).

Reconstructed details (not fixed by the spec; faithful=False): ε is set from the model at hand as
the retain loss measured at the first step times (1 + eps_margin), where the paper tunes ε per
benchmark; the margin loss counts answer positions only (open-unlearning counts every position);
the warm-up is counted in optimizer steps rather than epochs; the dual step uses the retain loss of
the step just taken (its micro-batch mean).
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import shift
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class PDUConfig:
    lambda0: float = hp(100.0, 100.0, "initial dual variable λ₀ (weight of the retain constraint)")
    eta: float = hp(5.0, 5.0, "dual step size η")
    eps_margin: float = hp(0.05, 0.05, "ε = first-step retain loss × (1 + eps_margin)")
    warmup_steps: int = hp(2, 0, "optimizer steps before λ starts to move")


@register
class PDU(Method):
    info = MethodInfo(
        id="pdu",
        name="PDU",
        paper="Entesari et al. 2025, Constrained Entropic Unlearning (arXiv 2506.05314)",
        summary="Flattens the forget logits (max minus mean, squared) while a dual variable λ keeps the "
        "retain loss below a bound ε just above where it started.",
        needs_retain=True,
        faithful=False,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = PDUConfig

    def __init__(self, cfg, ctx) -> None:
        super().__init__(cfg, ctx)
        self.lam = float(cfg.lambda0)
        self.eps: float | None = None  # set from the first retain loss

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        lg, _, mask = shift(*self.ctx.answer_logits(b.forget))  # (B, T-1, V), mask (B, T-1)
        margin = lg.max(-1).values - lg.mean(-1)  # (B, T-1)
        lf = (margin.pow(2) * mask).sum() / mask.sum().clamp(min=1)
        return lf, {"margin_sq": lf.item()}

    def retain_part(self, b: StepBatch):
        lr = retain_loss(self.ctx, b.retain, "nll")
        if self.eps is None:
            self.eps = lr.item() * (1.0 + self.cfg.eps_margin)
        return self.lam * (lr - self.eps), {"retain_loss": lr.item(), "eps": self.eps, "lambda": self.lam}

    def after_step(self, logs, step):
        # `step` is the step just taken; dual ascent only once the warm-up is over
        if step > self.cfg.warmup_steps and "retain_loss" in logs and self.eps is not None:
            self.lam = max(0.0, self.lam + self.cfg.eta * (logs["retain_loss"] - self.eps))
