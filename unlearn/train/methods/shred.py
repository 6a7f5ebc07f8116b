"""SHRED: retain-free self-distillation that demotes the memorised tokens only where the model is
most surprised (reconstruction).

1. One frozen forward (the model before) over each forget example; the answer positions with the
   lowest probability of the true token (the top P% surprisal) are "forget positions", the rest
   "benign anchors".
2. Teacher logits z₀; at forget positions z̃ = z₀ − β·onehot(y_t); elsewhere z̃ = z₀.
3. L = KL(softmax(z̃ restricted to the teacher's top K) ‖ softmax(z_θ on the same K)), averaged over
   answer positions. No retain set: the anchors keep the model close to itself.

arXiv 2605.07482. RECONSTRUCTION: the paper's P, K and β are not public; the spec fixes
P = 20%, K = 50, β = 10, used here as both default sets. The forget positions are chosen within
each answer (its own top P%, at least one position), as the surprisal ranking is per example.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from unlearn.train.losses import shift
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


def surprisal_positions(ref_logits: torch.Tensor, labels: torch.Tensor, share: float) -> torch.Tensor:
    """(B, T-1) bool: per answer, its ceil(share·|y|) positions of highest surprisal −log p₀(y_t)."""
    ref, target, mask = shift(ref_logits, labels)  # (B, T-1, V), (B, T-1), (B, T-1)
    surprisal = -F.log_softmax(ref, -1).gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, T-1)
    surprisal = surprisal.masked_fill(~mask, float("-inf"))
    chosen = torch.zeros_like(mask)
    for i in range(mask.shape[0]):
        n = int(mask[i].sum())
        if n:
            k = max(1, math.ceil(share * n))
            chosen[i, surprisal[i].topk(k).indices] = True
    return chosen & mask


def shred_target(ref_logits: torch.Tensor, labels: torch.Tensor, share: float, beta: float, k: int):
    """Teacher log-probs over its top-k tokens (B, T-1, k), their indices, the answer mask and the
    share of positions demoted."""
    ref, target, mask = shift(ref_logits, labels)
    demote = surprisal_positions(ref_logits, labels, share)  # (B, T-1)
    onehot = F.one_hot(target, ref.shape[-1]).to(ref.dtype)  # (B, T-1, V)
    adjusted = ref - beta * onehot * demote.unsqueeze(-1).to(ref.dtype)
    k = min(k, ref.shape[-1])
    top = adjusted.topk(k, -1)  # the teacher's top K after the demotion
    return F.log_softmax(top.values, -1), top.indices, mask, demote


@dataclass
class ShredConfig:
    share: float = hp(0.2, 0.2, "P: share of each answer's positions (highest surprisal) that are demoted")
    top_k: int = hp(50, 50, "K: the teacher's top tokens the distillation compares")
    beta: float = hp(10.0, 10.0, "β: how far the true token's logit is lowered at a demoted position")


@register
class Shred(Method):
    info = MethodInfo(
        id="shred",
        name="SHRED",
        paper="SHRED, retain-free self-distillation (arXiv 2605.07482)",
        summary="Distils the model before into the model on the forget answers, with the true token demoted by β "
        "only at the highest-surprisal P% of positions: the rest act as anchors, so no retain set is needed.",
        needs_retain=False,
        faithful=False,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = ShredConfig

    def terms(self, b: StepBatch):
        c = self.cfg
        ref, labels = self.ctx.answer_logits(b.forget, reference=True)
        t_logp, idx, mask, demote = shred_target(ref, labels, c.share, c.beta, c.top_k)
        logits, _ = self.ctx.answer_logits(b.forget)
        cur = logits[:, :-1].float().gather(-1, idx)  # (B, T-1, K) the student on the teacher's tokens
        kl = (t_logp.exp() * (t_logp - F.log_softmax(cur, -1))).sum(-1)  # (B, T-1)
        lf = (kl * mask).sum() / mask.sum().clamp(min=1)
        return lf, self.zero(), {"shred_kl": lf.item(), "demoted_share": float(demote.sum() / mask.sum().clamp(min=1))}
