"""Compiled decoder layers (issue 17): the same gradients as eager, with recomputed activations too,
and the model back on its eager layers after the block, also through a whole run. The CPU tests trace
with the "eager" backend (inductor takes a minute on 2 cores); `bench --gpu` measures inductor."""

from __future__ import annotations

from functools import partial

import torch

from tests.conftest import weights_digest
from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.model.forward import answer_logits
from unlearn.model.models import LoadedModel
from unlearn.train import engine
from unlearn.train.compiled import compiled_layers, decoder_layers
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.losses import mean_nll
from unlearn.train.params import make_trainable
from unlearn.train.recompute import recompute_activations

FORGET = [Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]


def _grads(lm: LoadedModel, params: list[torch.nn.Parameter], compiled: bool, low: bool) -> torch.Tensor:
    batch = collate([encode(lm.tokenizer, e) for e in FORGET + RETAIN], lm.tokenizer.pad_token_id, lm.device)
    for p in params:
        p.grad = None
    with compiled_layers(lm.model, compiled, backend="eager"), recompute_activations(lm.model, low):
        mean_nll(*answer_logits(lm.model, batch)).backward()
    return torch.cat([p.grad.flatten() for p in params])


def test_compiled_layers_give_the_eager_gradients_and_are_undone(tiny: LoadedModel) -> None:
    layers = decoder_layers(tiny.model)
    assert len(layers) == tiny.model.config.num_hidden_layers
    tr = make_trainable(tiny.model, "lora")
    with torch.no_grad():
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))  # LoRA B starts at zero: give every weight a gradient
    eager = _grads(tiny, tr.params, False, False)
    assert eager.abs().sum() > 0
    torch.testing.assert_close(_grads(tiny, tr.params, True, False), eager)
    torch.testing.assert_close(_grads(tiny, tr.params, True, True), eager)
    assert all(layer._compiled_call_impl is None for layer in layers)


def test_a_compiled_run_trains_and_leaves_the_layers_eager(tiny: LoadedModel, monkeypatch) -> None:
    monkeypatch.setattr(engine, "compiled_layers", partial(compiled_layers, backend="eager"))
    digest = weights_digest(tiny)
    spec = RunSpec("npo", mode="lora", compile=True, eval_every=0, loop=LoopConfig(lr=1e-2, steps=2, batch_size=1))
    out = run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
    assert out.metrics["forget_prob_after"] < out.metrics["forget_prob_before"]
    assert out.spec["compile"] is True
    assert all(layer._compiled_call_impl is None for layer in decoder_layers(tiny.model))
    out.trainable.reset()
    assert weights_digest(tiny) == digest
