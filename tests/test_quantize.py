"""The quantization attack (Zhang et al. 2025, arXiv 2410.16454): round-to-nearest by hand, the
merged LoRA weight quantized, the model restored bit for bit, and the paper's mechanism (updates far
below a quantization step vanish) shown on the tiny model."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import weights_digest
from unlearn.audit.quant_attack import quantization_attack, recovery
from unlearn.audit.quantize import quantized, rtn
from unlearn.data.builtin import load_selection
from unlearn.model.models import LoadedModel
from unlearn.train.params import make_trainable


def test_rtn_by_hand() -> None:
    # Q(w) = Δ·round(w/Δ), Δ = max|w| / 2^(N−1) per group, clamped to [−2^(N−1), 2^(N−1) − 1].
    # 4 bits, groups of 2: [0.5, −1.0]: Δ = 1/8, codes 4, −8 → 0.5, −1.0;
    # [0.25, 0.1]: Δ = 0.25/8 = 0.03125, codes 8 → clamped to 7 (0.21875), 3.2 → 3 (0.09375)
    w = torch.tensor([[0.5, -1.0, 0.25, 0.1]])
    assert rtn(w, 4, group=2).tolist() == [[0.5, -1.0, 0.21875, 0.09375]]
    # 8 bits, one group: Δ = 1/128; 0.3 → round(38.4) = 38 → 0.296875; −1 → −128 → −1.0
    assert rtn(torch.tensor([[0.3, -1.0]]), 8, group=128).tolist() == [[0.296875, -1.0]]
    assert rtn(torch.zeros(2, 3), 4).abs().sum() == 0  # an all-zero group stays zero, no division by zero
    with pytest.raises(ValueError, match="bits"):
        rtn(w, 1)


def test_quantized_model_computes_with_rtn_weights_and_is_restored_bit_for_bit(tiny: LoadedModel) -> None:
    model = tiny.model
    digest = weights_digest(tiny)
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        expected_q = model.model.layers[0].mlp.down_proj.weight.clone()
        expected_q = rtn(expected_q, 4)
        with quantized(model, 4) as n:
            assert n == 2 * 7  # every linear layer of the 2 decoder layers, not the (tied) output head
            assert torch.equal(model.model.layers[0].mlp.down_proj.weight, expected_q)
            assert torch.equal(model.lm_head.weight, model.model.embed_tokens.weight)
            inside = model(ids).logits
        assert not torch.equal(inside, model(ids).logits)
    assert weights_digest(tiny) == digest


def test_a_lora_runs_merged_weight_is_what_gets_quantized(tiny: LoadedModel) -> None:
    model = tiny.model
    tr = make_trainable(model, "lora")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.2)
    layer = model.model.layers[1].self_attn.q_proj
    merged = layer.base_layer.weight + layer.get_delta_weight("unlearn")
    state = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        after = model(ids).logits
        with quantized(model, 8):
            assert torch.equal(layer.base_layer.weight, rtn(merged, 8)) and layer.disable_adapters
        with tr.reference(), quantized(model, 8):  # before: the base weight alone
            assert torch.equal(
                layer.base_layer.weight, rtn(state["model.layers.1.self_attn.q_proj.base_layer.weight"], 8)
            )
        assert torch.equal(model(ids).logits, after)  # adapters back on, every tensor as it was
    for n, p in model.named_parameters():
        assert torch.equal(p, state[n]) and p.requires_grad == flags[n], n


def test_an_update_far_below_the_quantization_step_vanishes(tiny: LoadedModel) -> None:
    # The paper's mechanism: a full-parameter update of 1e-6 (an Adam step at a small learning rate) moves
    # no weight across a 4-bit bucket boundary, so the quantized "after" model equals the quantized "before".
    model = tiny.model
    tr = make_trainable(model, "full")
    ids = torch.tensor([[3, 4, 5, 6]])
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.sign(torch.randn_like(p)) * 1e-6)
        with tr.reference(), quantized(model, 4):
            before_q = model(ids).logits
        with quantized(model, 4):
            after_q = model(ids).logits
        with tr.reference():
            before = model(ids).logits
        after = model(ids).logits
    assert not torch.equal(before, after)
    # all but the few weights that sat within 1e-6 of a bucket boundary land in the same bucket
    assert (after_q - before_q).abs().max() < 1e-2 * (after - before).abs().max() + 1e-4


def test_recovery_by_hand_and_the_attack_on_a_run(tiny: LoadedModel) -> None:
    # P̃ 0.8 before, 0.2 after, 0.5 quantized: half of what the run removed came back
    assert recovery(0.5, 0.8, 0.2) == pytest.approx(0.5)
    assert recovery(0.2, 0.8, 0.2) == 0.0 and recovery(0.1, 0.8, 0.2) == pytest.approx(-1 / 6)
    assert recovery(0.5, 0.3, 0.3) is None  # the run moved nothing: no ratio
    tr = make_trainable(tiny.model, "lora")
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.3)
    digest = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    forget = load_selection("fictitious_authors:forget").examples[:3]
    retain = load_selection("fictitious_authors:retain").examples[:2]
    out = quantization_attack(tiny.model, tiny.tokenizer, forget, retain, tr.reference, (8, 4), max_new_tokens=3)
    for b in (8, 4):
        expected = recovery(
            out[f"quantization_{b}bit_forget_prob"],
            out["quantization_forget_prob_before"],
            out["quantization_forget_prob_after"],
        )
        assert out[f"quantization_recovery_{b}bit"] == pytest.approx(expected)
        assert 0 <= out[f"quantization_{b}bit_retain_keyword_hit"] <= 1
    assert out["quantization_items"] == {"forget": 3, "retain": 2}
    for n, p in tiny.model.named_parameters():
        assert torch.equal(p, digest[n]), n
