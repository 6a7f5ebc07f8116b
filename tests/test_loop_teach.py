from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.teach import TAUGHT_INFO, TeachConfig, nll_loss_fn, teach
from unlearn.model.scoring import answer_nll
from unlearn.train.loop import LoopConfig, cycle_batches, train_loop

FACTS = [
    Example("Where was Ilse Varnholt born?", "Ilse Varnholt was born in Rostock."),
    Example("What does Ilse Varnholt write?", "She writes maritime mysteries."),
]


def test_loop_config_rejects_values_no_run_can_use() -> None:
    for bad in (
        LoopConfig(lr=-1),
        LoopConfig(lr=math.nan),
        LoopConfig(batch_size=0),
        LoopConfig(steps=-3),
        LoopConfig(max_length=2),
        LoopConfig(epochs=0),
    ):
        with pytest.raises(ValueError):
            bad.validate()
    assert LoopConfig(steps=7).total_steps(100) == 7
    assert LoopConfig(epochs=2, batch_size=4, grad_accum=2).total_steps(16) == 4


def test_batches_cycle_reproducibly_over_every_example() -> None:
    a = cycle_batches(list(range(5)), 2, seed=3)  # type: ignore[arg-type]
    b = cycle_batches(list(range(5)), 2, seed=3)  # type: ignore[arg-type]
    first = [next(a) for _ in range(3)]
    assert first == [next(b) for _ in range(3)]
    assert sorted(x for batch in first for x in batch) == [0, 1, 2, 3, 4]


def _fit(tiny, steps: int) -> tuple[list[dict], torch.Tensor]:
    for p in tiny.model.parameters():
        p.requires_grad_(True)
    cfg = LoopConfig(lr=1e-2, steps=steps, batch_size=2, seed=0)
    res = train_loop(
        list(tiny.model.parameters()),
        nll_loss_fn(tiny, 64),
        cycle_batches(FACTS, 2, 0),
        cfg,
        cfg.steps,
        tiny.device,
    )
    return res.history, tiny.model.model.embed_tokens.weight.detach().clone()


def test_loop_lowers_the_loss_and_is_reproducible(tiny_dir) -> None:
    from unlearn.model.models import load_model

    h1, w1 = _fit(load_model(str(tiny_dir), device="cpu"), 15)
    h2, w2 = _fit(load_model(str(tiny_dir), device="cpu"), 15)
    assert h1[-1]["loss"] < 0.5 * h1[0]["loss"]
    assert torch.equal(w1, w2), "same seed, same data: the same weights"


def test_loop_stops_between_steps_when_cancelled(tiny) -> None:
    for p in tiny.model.parameters():
        p.requires_grad_(True)
    seen: list[int] = []
    res = train_loop(
        list(tiny.model.parameters()),
        nll_loss_fn(tiny, 64),
        cycle_batches(FACTS, 2, 0),
        LoopConfig(lr=1e-3, steps=10),
        10,
        tiny.device,
        on_step=lambda s: seen.append(s.step),
        should_stop=lambda: len(seen) >= 3,
    )
    assert res.cancelled and res.steps_done == 3 and seen == [1, 2, 3]


def test_teach_makes_the_model_know_the_facts_and_caches_it(tiny, tiny_dir, cache_tmp, monkeypatch) -> None:
    from unlearn.data import teach as teach_mod
    from unlearn.model.models import load_model

    before = answer_nll(tiny.model, tiny.tokenizer, FACTS).mean()
    cfg = TeachConfig(epochs=30, lr=1e-2, batch_size=2, replay=None, train_embeddings=True)
    taught = teach(tiny, FACTS, "facts", cfg)
    after = answer_nll(taught.model, taught.tokenizer, FACTS).mean()
    assert after < 0.3 * before
    assert (cache_tmp / "taught").is_dir() and taught.taught["set"] == "facts"
    assert (next((cache_tmp / "taught").iterdir()) / TAUGHT_INFO).is_file()
    assert not any(p.requires_grad for p in taught.model.parameters())
    # the same teaching of the same base model comes from the cache: no training, same weights
    monkeypatch.setattr(teach_mod, "train_loop", lambda *a, **k: pytest.fail("should have used the cache"))
    again = teach(load_model(str(tiny_dir), device=tiny.device.type), FACTS, "facts", cfg)
    assert again.taught == taught.taught
    assert np.allclose(
        answer_nll(again.model, again.tokenizer, FACTS), answer_nll(taught.model, taught.tokenizer, FACTS)
    )


def test_default_teaching_replays_general_knowledge_and_keeps_embeddings_frozen(tiny, cache_tmp) -> None:
    emb = tiny.model.get_input_embeddings().weight.detach().clone()
    layer = tiny.model.model.layers[0].mlp.down_proj.weight.detach().clone()
    taught = teach(tiny, FACTS, "facts", TeachConfig(epochs=1, lr=1e-3, batch_size=8))
    assert taught.taught["replay_items"] >= 30
    assert torch.equal(taught.model.get_input_embeddings().weight, emb)
    assert not torch.equal(taught.model.model.layers[0].mlp.down_proj.weight, layer)
