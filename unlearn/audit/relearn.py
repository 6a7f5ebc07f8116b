"""Relearning attack: a few fine-tuning steps on part of the forget set, then how much of the rest
comes back (evaluation.md). recovery = (m_relearned − m_unlearned) / (m_before − m_unlearned) with m
the forget set's answer probability P̃; 0 = nothing came back, 1 = as before the run.

The items relearned and the items measured are disjoint: knowledge that returns on items the attack
never showed was hidden, not removed. The run's weights are put back afterwards (`restored`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.data.batching import batches
from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.model.forward import answer_logits
from unlearn.model.scoring import answer_nll, set_prob
from unlearn.train.losses import sequence_nll
from unlearn.train.params import Trainable


@dataclass
class RelearnConfig:
    steps: int = 5  # optimizer steps of the attack
    lr: float = 1e-3  # AdamW learning rate (LoRA-scale; lower it for full fine-tuning)
    batch_size: int = 4
    share: float = 0.5  # share of the forget set the attacker relearns on; the rest is measured
    seed: int = 0


def recovery(value: float, before: float, unlearned: float) -> float | None:
    """(m − m_unlearned) / (m_before − m_unlearned); None where the run moved m by nothing measurable.
    The relearning and quantization attacks both report it."""
    gap = before - unlearned
    return (value - unlearned) / gap if abs(gap) > 1e-12 else None


@contextmanager
def restored(params: Sequence[torch.nn.Parameter]) -> Iterator[None]:
    """The parameters may be trained inside (a run reloaded from disk has them frozen: without this the
    attack's backward found nothing to differentiate); whatever happens, they leave with the values and
    the requires_grad flags they came in with."""
    saved = [p.detach().clone() for p in params]
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, s, f in zip(params, saved, flags, strict=True):
                p.copy_(s)
                p.grad = None
                p.requires_grad_(f)


def split(items: Sequence[Example], share: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(relearned, measured): a seeded random share of the items, and the rest."""
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(items), generator=g).tolist()
    n = min(max(1, round(share * len(items))), len(items) - 1)
    return [items[i] for i in order[:n]], [items[i] for i in order[n:]]


def relearn(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    trainable: Trainable,
    forget: Sequence[Example],
    cfg: RelearnConfig | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> dict[str, object]:
    """Forget-set probability on the measured items before the run, after it, and after each attack
    step; recovery per step. The model is left exactly as it was (the run's weights restored)."""
    cfg = cfg or RelearnConfig()
    if len(forget) < 2 or cfg.steps < 1:
        raise UserError("the relearning attack needs at least 2 forget items and 1 step")
    train, held = split(forget, cfg.share, cfg.seed)
    with trainable.reference():
        p_before = set_prob(answer_nll(model, tokenizer, held))
    p_unlearned = set_prob(answer_nll(model, tokenizer, held))
    curve = [p_unlearned]
    device = next(model.parameters()).device
    was_training = model.training
    with restored(trainable.params):
        opt = torch.optim.AdamW(trainable.params, lr=cfg.lr, weight_decay=0.0)
        model.train()
        try:
            # the attack cycles through its items: step s relearns items s·B … s·B + B − 1 (mod n)
            stream = [train[j % len(train)] for j in range(cfg.steps * cfg.batch_size)]
            for step, (_, batch) in enumerate(batches(stream, tokenizer, cfg.batch_size, device=device)):
                total, count = sequence_nll(*answer_logits(model, batch))
                loss = total.sum() / count.sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                model.eval()
                curve.append(set_prob(answer_nll(model, tokenizer, held)))
                model.train()
                if progress:
                    progress(step + 1, curve[-1])
        finally:
            model.train(was_training)
    per_step = [recovery(p, p_before, p_unlearned) for p in curve]
    per_step = [float("nan") if r is None else r for r in per_step]
    return {
        "relearned_items": len(train),
        "measured_items": len(held),
        "prob_before": p_before,
        "prob_unlearned": p_unlearned,
        "prob_per_step": curve,
        "recovery_per_step": per_step,
        "recovery": per_step[-1],
    }
