"""UNDIAL: self-distillation toward the model before, with the true token's logit lowered.

L = mean_t CE(z_θ,t, softmax(z_θ₀,t − β·onehot(y_t))) over forget answer positions.

Dong et al. 2024, "UNDIAL: Self-Distillation with Adjusted Logits for Robust Unlearning in Large
Language Models", arXiv 2402.10052, eq. (2)-(3). The target is fixed (the reference is frozen), so
the loss cannot run away like gradient ascent: at its minimum the model is the reference with the
memorised tokens damped by e^−β.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unlearn.train.losses import shift, soft_target_ce
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


def undial_target(ref_logits: torch.Tensor, labels: torch.Tensor, beta: float) -> torch.Tensor:
    """softmax(z_θ₀ − β·onehot(y)), aligned with the shifted logits: (B, T-1, V)."""
    ref, target, _ = shift(ref_logits, labels)  # (B, T-1, V), (B, T-1)
    onehot = F.one_hot(target, ref.shape[-1]).to(ref.dtype)  # (B, T-1, V)
    return F.softmax(ref - beta * onehot, dim=-1)


@dataclass
class UndialConfig:
    beta: float = hp(10.0, 10.0, "how far the true token's logit is lowered in the target")


@register
class Undial(Method):
    info = MethodInfo(
        id="undial",
        name="UNDIAL",
        paper="Dong et al. 2024, UNDIAL: Self-Distillation with Adjusted Logits (arXiv 2402.10052)",
        summary="Distils the model before into the model, with each forget answer token's logit lowered by β "
        "in the teacher: a bounded target, so no collapse.",
        needs_retain=False,
        lr=1e-3,
        paper_lr=1e-4,
    )
    Config = UndialConfig

    def terms(self, b: StepBatch):
        ref, labels = self.ctx.answer_logits(b.forget, reference=True)
        logits, _ = self.ctx.answer_logits(b.forget)
        lf = soft_target_ce(logits, undial_target(ref, labels, self.cfg.beta), labels)
        return lf, self.zero(), {"undial": lf.item()}
