"""Low-memory training computes the same gradients and leaves the model as it found it; runs are
reproducible down to the LoRA initialisation."""

from __future__ import annotations

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.model.forward import answer_logits
from unlearn.model.models import LoadedModel
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.losses import mean_nll
from unlearn.train.params import make_trainable
from unlearn.train.recompute import recompute_activations

FORGET = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Where is Zorn?", "Zorn is by the sea.")]
RETAIN = [Example("What is two and two?", "Four."), Example("What colour is snow?", "White.")]


def _grads(lm: LoadedModel, params: list[torch.nn.Parameter], batch: dict, low: bool) -> torch.Tensor:
    for p in params:
        p.grad = None
    with recompute_activations(lm.model, low):
        mean_nll(*answer_logits(lm.model, batch)).backward()
    return torch.cat([p.grad.flatten() for p in params])


def test_recomputed_gradients_equal_stored_ones_and_the_model_is_restored(tiny: LoadedModel) -> None:
    batch = collate([encode(tiny.tokenizer, e) for e in FORGET], tiny.tokenizer.pad_token_id, tiny.device)
    tr = make_trainable(tiny.model, "lora")
    with torch.no_grad():
        for p in tr.params:
            p.add_(0.05 * torch.randn_like(p))  # LoRA B starts at zero: give every weight a gradient
    stored, recomputed = _grads(tiny, tr.params, batch, False), _grads(tiny, tr.params, batch, True)
    assert stored.abs().sum() > 0
    torch.testing.assert_close(recomputed, stored)
    assert not tiny.model.training
    assert not any(getattr(m, "gradient_checkpointing", False) for m in tiny.model.modules())
    assert not getattr(tiny.model, "_require_grads_hooks", None)


def test_same_seed_same_run_low_memory_or_not(tiny: LoadedModel) -> None:
    def run(low: bool) -> list[float]:
        spec = RunSpec("npo", loop=LoopConfig(lr=1e-2, steps=3, batch_size=2), low_memory=low, eval_every=0)
        torch.randn(5)  # whatever the global RNG did before, the run must not depend on it
        out = run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
        out.trainable.reset()
        return [h["npo"] for h in out.history] + [out.metrics["forget_prob_after"]]

    first = run(False)
    assert run(False) == first
    torch.testing.assert_close(torch.tensor(run(True)), torch.tensor(first))
