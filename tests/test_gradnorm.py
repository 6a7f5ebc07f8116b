"""GradNorm membership attack (evaluation.md: −‖∇θ L̄‖ of the answer loss; Nasr et al. 2019, and
open-unlearning's `mia_gradnorm`): the norm against a direct computation, the model left as it was,
and the orientation (a memorised item has the smaller gradient)."""

from __future__ import annotations

import numpy as np
import torch

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
