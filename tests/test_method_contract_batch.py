"""The method contract: a method gets everything per-step in the `StepBatch` it is handed (the
tensors, the examples behind them, the step), and nothing per-step from the shared `Context`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.losses import mean_nll
from unlearn.train.methods import Context, Method, MethodInfo, StepBatch, registry

FORGET = [Example(f"Who wrote book {i}?", f"Author {i} wrote it.") for i in range(4)]
RETAIN = [Example(f"What is {i} plus {i}?", f"It is {2 * i}.") for i in range(1, 5)]


@dataclass
class ProbeConfig:
    pass


def probe_method(seen: list[tuple[int, StepBatch]], steps_after: list[int]) -> type[Method]:
    """A throwaway method: gradient ascent that records each StepBatch it is given."""

    class Probe(Method):
        info = MethodInfo(
            id="probe_batch", name="Probe", paper="none", summary="records its batches", needs_retain=False
        )
        Config = ProbeConfig

        def terms(self, b: StepBatch):
            seen.append((b.step, b))
            lf = mean_nll(*self.ctx.answer_logits(b.forget))
            return -lf, self.zero(), {"forget_nll": lf.item()}

        def after_step(self, logs, step):
            steps_after.append(step)

    return Probe


@pytest.fixture
def probe(monkeypatch):
    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # the registration stays in this test
    seen: list[tuple[int, StepBatch]] = []
    steps_after: list[int] = []
    registry.register(probe_method(seen, steps_after))
    return seen, steps_after


def _encoded(lm, items: list[Example], max_length: int) -> dict[str, torch.Tensor]:
    return collate([encode(lm.tokenizer, e, max_length) for e in items], lm.tokenizer.pad_token_id, lm.device)


@pytest.mark.parametrize("grad_accum", [1, 2])
def test_a_method_sees_the_step_and_the_examples_of_each_batch(tiny, probe, grad_accum) -> None:
    seen, steps_after = probe
    loop = LoopConfig(lr=1e-4, steps=2, batch_size=2, grad_accum=grad_accum)
    run_unlearning(tiny, RunSpec("probe_batch", loop=loop, eval_every=0), FORGET, RETAIN, RETAIN[:1])
    # every micro-batch of step k carries step k; after_step hears the step just taken
    assert [step for step, _ in seen] == [s for s in (1, 2) for _ in range(grad_accum)]
    assert steps_after == [1, 2]
    for _, b in seen:
        assert len(b.forget_examples) == 2 and all(e in FORGET for e in b.forget_examples)
        assert len(b.retain_examples) == 2 and all(e in RETAIN for e in b.retain_examples)
        # the examples are those behind the tensors handed with them
        for tensors, items in ((b.forget, b.forget_examples), (b.retain, b.retain_examples)):
            expected = _encoded(tiny, items, loop.max_length)
            assert all(torch.equal(tensors[k], expected[k]) for k in expected)
    # the first two micro-batches are one pass over the forget set: each item once
    first_pass = [e for _, b in seen[:2] for e in b.forget_examples]
    assert sorted(first_pass, key=repr) == sorted(FORGET, key=repr)


def test_without_a_retain_set_the_batch_has_no_retain_part(tiny, probe) -> None:
    seen, _ = probe
    run_unlearning(tiny, RunSpec("probe_batch", loop=LoopConfig(steps=1, batch_size=4), eval_every=0), FORGET, [], [])
    [(step, b)] = seen
    assert step == 1 and b.retain is None and b.retain_examples == []
    assert sorted(b.forget_examples, key=repr) == sorted(FORGET, key=repr)


def test_the_context_holds_nothing_per_step_and_the_batch_is_frozen() -> None:
    names = {f.name for f in dataclasses.fields(Context)}
    assert not names & {"forget_examples", "retain_examples", "step"}
    assert {"model", "trainable", "encode", "refusals", "grad_rule", "all_forget", "seed"} <= names
    b = StepBatch({"input_ids": torch.zeros(1, 1)}, None, [FORGET[0]], [], 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.step = 4  # type: ignore[misc]
