"""Random-label forgetting: fine-tune toward a wrong answer. L = ℓ(x_f with a random other answer)
+ α·L_retain.

Spec (methods.md baselines): cross-entropy toward a random wrong answer/label, after the
random-label forgetting of "Unforgettable Generalization", arXiv 2409.02228.
The wrong answer for each forget item is another forget item's answer, drawn per step with the
run's seed (so the wrong answers are fluent text of the same kind, not token noise).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from unlearn.errors import UserError
from unlearn.train.losses import mean_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class RandomLabelConfig:
    gamma: float = hp(1.0, 1.0, "weight of the wrong-answer term")
    alpha: float = hp(1.0, 1.0, "weight of the retain term (0 or no retain set: none)")
    retain_loss: str = hp("nll", "nll", "retain loss: nll or kl")


@register
class RandomLabel(Method):
    info = MethodInfo(
        id="random_label",
        name="Random label",
        paper='Random-label forgetting, after "Unforgettable Generalization" (arXiv 2409.02228)',
        summary="Fine-tunes the model to give another forget item's answer to each forget question: the true "
        "answer is overwritten by a plausible wrong one.",
        needs_retain=False,
        lr=1e-3,
        paper_lr=1e-5,
    )
    Config = RandomLabelConfig

    def wrong_batch(self, b: StepBatch):
        """The forget questions of `b`, each with the answer of a different forget item."""
        ctx = self.ctx
        if ctx.encode is None:
            raise ValueError("random-label forgetting needs an encoder: run it through the engine")
        pool = sorted({e.answer for e in ctx.all_forget or b.forget_examples})
        if len(pool) < 2:
            raise UserError("random-label forgetting needs at least two different forget answers to swap")
        rng = random.Random(ctx.seed * 7919 + b.step)
        items = [replace(e, answer=rng.choice([a for a in pool if a != e.answer])) for e in b.forget_examples]
        return ctx.encode(items)

    # the two parts apart: the forget part is back-propagated before the retain forward (registry.py)
    def forget_part(self, b: StepBatch):
        lf = mean_nll(*self.ctx.answer_logits(self.wrong_batch(b)))
        return self.cfg.gamma * lf, {"wrong_answer_nll": lf.item()}

    def retain_part(self, b: StepBatch):
        c = self.cfg
        lr = retain_loss(self.ctx, b.retain, c.retain_loss) if c.alpha else self.zero()
        return c.alpha * lr, {"retain_loss": lr.item()}
