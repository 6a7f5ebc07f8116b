"""The run's end figures and its live curve's last point come from one scoring of the last weights."""

from __future__ import annotations

import pytest

import unlearn.train.set_probs as set_probs
from unlearn.data.builtin import load_selection
from unlearn.data.workspace import split_retain
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll, set_prob
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig

FORGET = load_selection("harry_potter:known").examples[:6]
RETAIN_TRAIN, RETAIN_EVAL = split_retain(load_selection("general_knowledge").examples[:12])


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    scored = set_probs.answer_nll_sums

    def counted(model, tokenizer, examples, **kw):
        calls.append(len(examples))
        return scored(model, tokenizer, examples, **kw)

    monkeypatch.setattr(set_probs, "answer_nll_sums", counted)
    return calls


def test_the_last_step_measures_the_whole_sets_once(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy(monkeypatch)
    spec = RunSpec("ga", mode="lora", loop=LoopConfig(steps=3, batch_size=2, lr=1e-2), eval_every=1, eval_items=2)
    out = run_unlearning(tiny, spec, FORGET, RETAIN_TRAIN, RETAIN_EVAL)
    whole = len(FORGET) + len(RETAIN_EVAL)
    # before; the sample after steps 1 and 2; the whole sets after step 3, and nothing after the loop
    assert calls == [whole, 4, 4, whole]
    forget_nll = answer_nll(tiny.model, tiny.tokenizer, FORGET)  # the model is "after" here
    retain_nll = answer_nll(tiny.model, tiny.tokenizer, RETAIN_EVAL)
    assert out.metrics["forget_prob_after"] == pytest.approx(set_prob(forget_nll), rel=1e-5)
    assert out.metrics["retain_prob_after"] == pytest.approx(set_prob(retain_nll), rel=1e-5)
    last = out.history[-1]
    assert last["forget_prob"] == pytest.approx(set_prob(forget_nll[:2]), rel=1e-5)
    assert last["retain_prob"] == pytest.approx(set_prob(retain_nll[:2]), rel=1e-5)
    assert out.metrics["forget_prob_after"] != pytest.approx(out.metrics["forget_prob_before"], rel=1e-4)


def test_a_cancelled_run_measures_its_end_after_the_loop(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _spy(monkeypatch)
    spec = RunSpec("ga", mode="lora", loop=LoopConfig(steps=3, batch_size=2, lr=1e-2), eval_every=1, eval_items=2)
    seen: list[int] = []
    out = run_unlearning(
        tiny,
        spec,
        FORGET,
        RETAIN_TRAIN,
        RETAIN_EVAL,
        on_step=lambda s: seen.append(s.step),
        should_stop=lambda: bool(seen),
    )
    whole = len(FORGET) + len(RETAIN_EVAL)
    assert out.cancelled and len(out.history) == 1
    assert calls == [whole, 4, whole]  # before, the sample after step 1, the whole sets on the kept weights
    assert out.metrics["forget_prob_after"] == pytest.approx(
        set_prob(answer_nll(tiny.model, tiny.tokenizer, FORGET)), rel=1e-5
    )
