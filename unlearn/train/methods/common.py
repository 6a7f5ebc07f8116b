"""Terms several methods share: the retain loss and the NPO-style preference term."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from unlearn.errors import UserError
from unlearn.train.losses import kl_on_answers, mean_nll, sequence_nll
from unlearn.train.methods.registry import Batch, Context

RETAIN_KINDS = ("nll", "kl")


def retain_loss(ctx: Context, retain: Batch | None, kind: str = "nll") -> torch.Tensor:
    """`nll` = ℓ(x_r); `kl` = KL(p_θ₀ ‖ p_θ) on the retain answers. Zero when there is no retain set."""
    if retain is None:
        return torch.zeros((), device=next(ctx.model.parameters()).device)
    if kind not in RETAIN_KINDS:
        raise UserError(f"unknown retain loss {kind!r}; valid: {', '.join(RETAIN_KINDS)}")
    logits, labels = ctx.answer_logits(retain)
    if kind == "nll":
        return mean_nll(logits, labels)
    return kl_on_answers(ctx.answer_logits(retain, reference=True)[0], logits, labels)


def npo_term(logp: torch.Tensor, ref_logp: torch.Tensor, beta: float) -> torch.Tensor:
    """−(2/β)·log σ(−β·Δ), Δ = log π_θ(y|x) − log π_θ₀(y|x); mean over the batch.

    Bounded below by 0 and flat once Δ ≪ 0, which is why NPO does not collapse like gradient ascent."""
    delta = logp - ref_logp  # (B,)
    return (-(2.0 / beta) * F.logsigmoid(-beta * delta)).mean()


def seq_logprob(ctx: Context, batch: Batch, reference: bool = False) -> torch.Tensor:
    """log π(y|x) = −NLL summed over answer tokens, (B,)."""
    nll, _ = sequence_nll(*ctx.answer_logits(batch, reference))
    return -nll


def npo_and_retain(
    ctx: Context, forget: Batch, retain: Batch | None, beta: float, kind: str = "nll"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The unweighted NPO forget loss and retain loss: the two parts the gradient-rule methods
    (BLUR, OFMU) take apart."""
    logp, ref = seq_logprob(ctx, forget), seq_logprob(ctx, forget, reference=True)
    return npo_term(logp, ref, beta), retain_loss(ctx, retain, kind)
