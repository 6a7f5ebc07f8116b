from __future__ import annotations

import pytest
import torch

from unlearn.model.models import load_model
from unlearn.serve.store import ModelStore


def test_failed_load_keeps_the_current_model(tiny_dir) -> None:
    store = ModelStore()
    first = store.load(str(tiny_dir), device="cpu")
    with pytest.raises(Exception, match="No model folder"):
        store.load("./definitely/not/here", device="cpu")
    assert store.current() is first


def test_a_transform_that_fails_half_way_restores_the_weights(tiny_dir) -> None:
    store = ModelStore()
    store.replace(load_model(str(tiny_dir), device="cpu"))
    original = store.require().model.lm_head.weight.detach().clone()

    def breaks_half_way(lm):
        with torch.no_grad():
            lm.model.lm_head.weight.add_(1.0)  # a change in place, then a failure
        raise InterruptedError("cancelled")

    with pytest.raises(InterruptedError):
        store.transform(breaks_half_way)
    assert torch.equal(store.require().model.lm_head.weight, original)


def test_require_says_what_to_do_when_nothing_is_loaded() -> None:
    with pytest.raises(RuntimeError, match="load one"):
        ModelStore().require()
