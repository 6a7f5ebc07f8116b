"""GradNorm membership attack (evaluation.md: −‖∇θ L̄‖ of the answer loss; Nasr et al. 2019, and
open-unlearning's `mia_gradnorm`): the norm against a direct computation, the model left as it was,
and the orientation (a memorised item has the smaller gradient)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers.pytorch_utils import Conv1D

from unlearn.audit import ghost_norm, gradnorm
from unlearn.audit.gradnorm import gradient_norms, gradnorm_scores, model_weights
from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll
from unlearn.train.losses import mean_nll
from unlearn.train.params import make_trainable

ITEMS = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Capital of France?", "Paris.")]


def _direct_norm(lm: LoadedModel, ex: Example) -> float:
    model = lm.model
    model.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.requires_grad_(True)
    batch = collate([encode(lm.tokenizer, ex)], lm.tokenizer.pad_token_id, torch.device("cpu"))
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    mean_nll(out.logits, batch["labels"]).backward()
    norm = torch.sqrt(sum(p.grad.pow(2).sum() for p in model.parameters() if p.grad is not None))
    model.zero_grad(set_to_none=True)
    return float(norm)


def test_gradient_norm_equals_a_direct_backward(tiny: LoadedModel) -> None:
    for p in list(tiny.model.parameters())[::2]:
        p.requires_grad_(False)  # a mix of flags, to see each put back as it was
    flags = [p.requires_grad for p in tiny.model.parameters()]
    norms = gradient_norms(tiny.model, tiny.tokenizer, ITEMS)
    assert all(p.grad is None for p in tiny.model.parameters())  # nothing written into .grad
    assert [p.requires_grad for p in tiny.model.parameters()] == flags
    expected = [_direct_norm(tiny, ex) for ex in ITEMS]
    np.testing.assert_allclose(norms, expected, rtol=1e-4)
    np.testing.assert_allclose(gradnorm_scores(norms), -norms)  # higher = member


def test_with_a_lora_run_the_adapters_are_left_out_and_flags_restored(tiny: LoadedModel) -> None:
    tr = make_trainable(tiny.model, "lora")
    flags = {n: p.requires_grad for n, p in tiny.model.named_parameters()}
    weights = model_weights(tiny.model)
    assert not any(p is q for p in weights for q in tr.params)
    assert len(weights) == len({id(p) for p in tiny.model.parameters()}) - len(tr.params)
    gradient_norms(tiny.model, tiny.tokenizer, ITEMS[:1])
    assert {n: p.requires_grad for n, p in tiny.model.named_parameters()} == flags


def test_a_memorised_item_has_the_smaller_gradient(tiny: LoadedModel) -> None:
    # train the tiny model on one item until it is memorised: its gradient norm falls below the other's
    model = tiny.model
    for p in model.parameters():
        p.requires_grad_(True)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = collate([encode(tiny.tokenizer, ITEMS[0])], tiny.tokenizer.pad_token_id, torch.device("cpu"))
    for _ in range(60):
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        loss = mean_nll(out.logits, batch["labels"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    for p in model.parameters():
        p.requires_grad_(False)
        p.grad = None
    losses = answer_nll(model, tiny.tokenizer, ITEMS)
    assert losses[0] < 0.1 < losses[1]  # item 0 memorised, item 1 not
    scores = gradnorm_scores(gradient_norms(model, tiny.tokenizer, ITEMS))
    assert scores[0] > scores[1]


# Batched norms (ghost_norm.py: Goodfellow 2015, arXiv 1510.01799; Li et al. 2022, arXiv 2110.05679,
# sec. 4) against one backward per item, on items of different lengths so the batch is padded.
MIXED = ITEMS + [
    Example("Who wrote the red book, and when?", "Anna Berg wrote it in 1901, in Oslo, in red ink."),
    Example("Hedwig?", "An owl. An owl named Hedwig."),  # repeated tokens: the embedding's [x_t = x_s] term
]


def _one_at_a_time(model: torch.nn.Module, tiny: LoadedModel) -> np.ndarray:
    return gradnorm._one_by_one(model, tiny.tokenizer, MIXED, model_weights(model), 256, None)


def test_batched_norms_equal_one_backward_per_item_in_float64(tiny: LoadedModel) -> None:
    # float64 weights: the identity is exact, so the two agree to the fp32 loss's rounding (losses.shift
    # takes the loss in fp32), ~1e-7, where a wrong or missing term would show at 1e-2
    model = tiny.model.double()
    assert model.lm_head.weight is model.model.embed_tokens.weight  # the tied head's cross term is in play
    batched = gradient_norms(model, tiny.tokenizer, MIXED, batch_size=3)
    np.testing.assert_allclose(batched, _one_at_a_time(model, tiny), rtol=1e-6)


def test_batched_norms_with_an_untied_head_and_with_a_lora_run(tiny: LoadedModel) -> None:
    model = tiny.model.double()
    model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone() * 1.5)
    model.config.tie_word_embeddings = False
    layout = ghost_norm.layout(model, model_weights(model))
    assert not layout.tied and model.lm_head in layout.linear
    np.testing.assert_allclose(gradient_norms(model, tiny.tokenizer, MIXED), _one_at_a_time(model, tiny), rtol=1e-6)
    tr = make_trainable(model, "lora")
    with torch.no_grad():
        for p in tr.params:
            p.normal_(0, 0.05)  # a run's adapters: the base weights' gradient is the merged weight's
    np.testing.assert_allclose(gradient_norms(model, tiny.tokenizer, MIXED), _one_at_a_time(model, tiny), rtol=1e-6)
    assert all(p.grad is None for p in model.parameters())


def test_a_layer_the_batched_norms_do_not_cover_takes_one_item_at_a_time(
    tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tiny.model.double()
    mlp = model.model.layers[0].mlp
    conv = Conv1D(mlp.down_proj.out_features, mlp.down_proj.in_features).double()  # GPT-2's layer: y = x W + b
    with torch.no_grad():
        conv.weight.copy_(mlp.down_proj.weight.T)
    mlp.down_proj = conv
    with pytest.raises(ghost_norm.Unsupported, match="2-D weight in a Conv1D"):
        ghost_norm.layout(model, model_weights(model))
    one_by_one, calls = gradnorm._one_by_one, []
    monkeypatch.setattr(gradnorm, "_one_by_one", lambda *a: calls.append(1) or one_by_one(*a))
    norms = gradient_norms(model, tiny.tokenizer, MIXED)
    assert calls == [1]
    np.testing.assert_allclose(norms, [_direct_norm(tiny, ex) for ex in MIXED], rtol=1e-8)
