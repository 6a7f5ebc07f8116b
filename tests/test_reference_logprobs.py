"""The run's before-measurement keeps each forget item's log π_θ₀(y|x), and NPO's steps read the
reference from it instead of a reference forward (issue 19: the quick demo). The kept figures equal a
fresh reference forward to float rounding, a run makes no reference forward on the forget set, and it
ends where a run with fresh reference forwards ends."""

from __future__ import annotations

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.train import engine
from unlearn.train.loop import LoopConfig
from unlearn.train.losses import sequence_nll
from unlearn.train.methods import Context
from unlearn.train.methods.common import seq_logprob
from unlearn.train.params import make_trainable
from unlearn.train.set_probs import set_probs

FORGET = [Example(f"Who wrote book number {i}?", f"Author {i} wrote it, long ago.") for i in range(6)]
RETAIN = [Example(f"What is {i} plus {i}?", f"It is {2 * i}.") for i in range(1, 7)]


def _spec() -> engine.RunSpec:
    spec = engine.RunSpec(method="npo", mode="lora", eval_every=0)
    spec.loop = LoopConfig(lr=1e-2, steps=3, batch_size=3)
    return spec


def test_the_kept_reference_equals_a_fresh_reference_forward(tiny) -> None:
    kept: dict[tuple[str, str], float] = {}
    set_probs(tiny, FORGET, [], 256, kept)
    assert set(kept) == {(e.question, e.answer) for e in FORGET}
    tr = make_trainable(tiny.model, "lora", None, 4)
    batch = collate([encode(tiny.tokenizer, e, 256) for e in FORGET[:4]], tiny.tokenizer.pad_token_id, tiny.device)
    ctx = Context(tiny.model, tr, reference_logprobs=kept)
    with torch.no_grad():
        fresh = seq_logprob(ctx, batch, reference=True)
    read = ctx.reference_logprob(batch, FORGET[:4])
    tr.reset()
    torch.testing.assert_close(read, fresh, rtol=1e-5, atol=1e-5)
    # an item the measurement did not score is scored by a forward
    other = [Example("Who painted it?", "Nobody did.")] + FORGET[1:4]
    assert ("Who painted it?", "Nobody did.") not in kept
    ctx2 = Context(tiny.model, make_trainable(tiny.model, "lora", None, 4), reference_logprobs=kept)
    b2 = collate([encode(tiny.tokenizer, e, 256) for e in other], tiny.tokenizer.pad_token_id, tiny.device)
    with torch.no_grad():
        torch.testing.assert_close(ctx2.reference_logprob(b2, other), seq_logprob(ctx2, b2, reference=True))
    ctx2.trainable.reset()


def test_an_npo_run_reads_the_reference_and_ends_where_fresh_forwards_end(tiny, monkeypatch) -> None:
    calls: list[bool] = []
    answer_logits = Context.answer_logits

    def counted(self, batch, reference=False):
        calls.append(reference)
        return answer_logits(self, batch, reference)

    monkeypatch.setattr(Context, "answer_logits", counted)
    kept = engine.run_unlearning(tiny, _spec(), FORGET, RETAIN, RETAIN[:2])
    after_kept = {k: v.clone() for k, v in kept.trainable.changed().items()}
    kept.trainable.reset()
    assert calls and not any(calls)  # 3 steps, and not one reference forward

    def fresh(self, batch, examples):  # what every step did before the kept reference
        nll, _ = sequence_nll(*self.answer_logits(batch, reference=True))
        return -nll

    monkeypatch.setattr(Context, "reference_logprob", fresh)
    calls.clear()
    forward = engine.run_unlearning(tiny, _spec(), FORGET, RETAIN, RETAIN[:2])
    assert sum(calls) == 3  # one reference forward a step
    for name, value in forward.trainable.changed().items():
        torch.testing.assert_close(after_kept[name], value, rtol=1e-3, atol=1e-5)
    assert abs(kept.metrics["forget_prob_after"] - forward.metrics["forget_prob_after"]) < 1e-4
    forward.trainable.reset()
