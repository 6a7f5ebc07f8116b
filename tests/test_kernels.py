"""Attention kernels switched per call (issue 17): SDPA for training, generation and scoring, eager
only where attention maps are read, and back again afterwards."""

from __future__ import annotations

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.inspection.probe import probe
from unlearn.model.kernels import EAGER, SDPA, eager_attention, kernel_of
from unlearn.model.scoring import generate_answers

EX = Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")
IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 7, 11, 60, 2]])


def test_sdpa_and_eager_agree_and_the_switch_comes_back(tiny) -> None:
    model = tiny.model
    assert kernel_of(model) == SDPA
    with torch.no_grad():
        fused = model(IDS.to(tiny.device)).logits
        with eager_attention(model):
            assert kernel_of(model) == EAGER
            eager = model(IDS.to(tiny.device)).logits
    assert kernel_of(model) == SDPA
    # fp32: the kernels differ in summation order only; bf16 (a GPU run of the tests) rounds each product
    assert torch.allclose(fused, eager, atol=1e-5 if model.dtype == torch.float32 else 0.05)
    with pytest.raises(RuntimeError), eager_attention(model):
        raise RuntimeError("a failure inside the block")
    assert kernel_of(model) == SDPA


def test_the_probe_reads_every_map_on_a_model_loaded_with_sdpa(tiny) -> None:
    p = probe(tiny.model, tiny.tokenizer, EX)
    layers, heads = tiny.model.config.num_hidden_layers, tiny.model.config.num_attention_heads
    assert p.attentions.shape[:2] == (layers, heads)
    assert kernel_of(tiny.model) == SDPA  # the probe switched to eager for its forward only
    rows = p.attentions.sum(-1)  # each query's attention over the keys sums to 1
    tol = 1e-4 if tiny.model.dtype == torch.float32 else 2e-2  # bf16 maps (a GPU run) hold 3 digits
    assert torch.allclose(torch.as_tensor(rows), torch.ones_like(torch.as_tensor(rows)), atol=tol)


def test_greedy_generation_is_the_same_on_either_kernel(tiny) -> None:
    fused = generate_answers(tiny.model, tiny.tokenizer, [EX.question], 12)
    with eager_attention(tiny.model):
        eager = generate_answers(tiny.model, tiny.tokenizer, [EX.question], 12)
    assert fused == eager
