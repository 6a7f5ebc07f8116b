"""Memory before a run (issue 17): an estimate that refuses what the device cannot hold, naming what
would fit; an out-of-memory error during a run leaves the model as it was."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from tests.conftest import weights_digest
from unlearn.data.examples import Example
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.memory_plan import RunShape, RunTooBig, check_run_fits, estimate_run

FORGET = [Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]
GIB = 2**30


def llama_8b_shape() -> LlamaForCausalLM:
    """Llama-3.1-8B's shapes on the meta device, bf16: no memory, no download."""
    cfg = LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
        num_attention_heads=32, num_key_value_heads=8,
    )  # fmt: skip
    with torch.device("meta"):
        return LlamaForCausalLM(cfg).to(torch.bfloat16)


def test_an_8b_model_full_run_is_refused_on_40_gb_and_lora_fits() -> None:
    model = llama_8b_shape()
    full = RunShape("full", None, 8, None, batch_size=4, tokens=256, low_memory=False)
    plan = estimate_run(model, full)
    # hand count: ~6.98e9 trained elements (8.03e9 less 2 x 525M embeddings): before 2 B, master 4 B,
    # Adam 8 B, gradient 4 B each = 18 B x 6.98e9 = 117 GiB, before the activations
    assert 115 * GIB < plan.total - plan.activations - plan.logits < 119 * GIB
    # the losses' rows: 4 x 256 answer positions x 128,256 tokens x (2 x 4 B kept + 2 B + 4 B) = 1.71 GiB
    assert plan.logits == 4 * 256 * 128256 * 14
    with pytest.raises(RunTooBig, match=r"needs about .* GiB .* 40.0 GiB are free: try LoRA adapters"):
        check_run_fits(model, full, torch.device("cuda"), free=40 * GIB)
    lora = RunShape("lora", None, 8, None, batch_size=4, tokens=256, low_memory=False)
    small = check_run_fits(model, lora, torch.device("cuda"), free=40 * GIB - 16 * GIB)  # 16 GB of weights loaded
    assert small.before == 0 and small.trained < 0.1 * GIB  # rank 8 on every projection: ~21M elements


def test_nothing_fits_says_so() -> None:
    model = llama_8b_shape()
    shape = RunShape("lora", None, 8, None, batch_size=1, tokens=256, low_memory=True)
    with pytest.raises(RunTooBig, match="no setting here fits"):
        check_run_fits(model, shape, torch.device("cuda"), free=1)


def test_a_run_the_device_cannot_hold_is_refused_before_anything_changes(tiny, monkeypatch) -> None:
    monkeypatch.setattr("unlearn.train.memory_plan.free_bytes", lambda device: 1024)
    digest = weights_digest(tiny)
    spec = RunSpec("grad_diff", mode="full", loop=LoopConfig(lr=1e-2, steps=2, batch_size=2))
    with pytest.raises(RunTooBig, match="Nothing was changed"):
        run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
    assert weights_digest(tiny) == digest


def test_out_of_memory_during_a_run_leaves_the_model_as_it_was(tiny, monkeypatch) -> None:
    """An injected CUDA out-of-memory error at the second step: the message names the fixes, the
    weights are those before the run, and the next run works."""
    from unlearn.train.methods import grad_diff

    digest = weights_digest(tiny)
    calls = {"n": 0}
    real = grad_diff.GradDiff.forget_part  # a step's first work: the forget part's forward and backward

    def failing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(grad_diff.GradDiff, "forget_part", failing)
    spec = RunSpec("grad_diff", mode="full", loop=LoopConfig(lr=1e-2, steps=3, batch_size=1))
    said = f"ran out of memory on {tiny.device.type}; the model is as it was .* LoRA adapters"
    with pytest.raises(RunTooBig, match=said):
        run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
    assert calls["n"] == 2 and weights_digest(tiny) == digest
    monkeypatch.setattr(grad_diff.GradDiff, "forget_part", real)
    out = run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
    assert len(out.history) == 3


def test_a_load_the_device_cannot_hold_is_refused_before_reading(tiny_dir, monkeypatch) -> None:
    from unlearn.model.models import ModelLoadError, load_model, weights_bytes

    # the headers give the size without reading a tensor: the tiny model's float32 weights
    lm = load_model(str(tiny_dir), device="cpu")
    assert weights_bytes(tiny_dir, torch.float32) == sum(t.numel() * 4 for t in lm.model.state_dict().values()) - (
        lm.model.lm_head.weight.numel() * 4  # the tied head is saved once
    )
    monkeypatch.setattr("unlearn.train.memory_plan.free_bytes", lambda device: 1000)
    with pytest.raises(ModelLoadError, match="needs about .* for its weights .* Choose the device 'split'"):
        load_model(str(tiny_dir), device="cpu")


def test_split_spreads_the_model_with_accelerate_and_is_not_trained(tiny_dir, monkeypatch) -> None:
    """device "split" asks Accelerate for device_map "auto" (on this GPU-less machine all of it lands on
    the CPU) and skips the size check; Compare's probe works on it, a run is refused with what to do."""
    from transformers import AutoModelForCausalLM

    from unlearn.inspection.probe import probe
    from unlearn.model.models import load_model

    asked: list[object] = []
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        asked.append(kwargs.get("device_map"))
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    monkeypatch.setattr("unlearn.train.memory_plan.free_bytes", lambda device: 1000)
    lm = load_model(str(tiny_dir), device="split")
    assert lm.split and lm.device.type == ("cuda" if torch.cuda.is_available() else "cpu") and asked == ["auto"]
    assert probe(lm.model, lm.tokenizer, FORGET[0]).attentions.shape[0] == 2
    with pytest.raises(ValueError, match="spread over several devices .* To unlearn, load it on one device"):
        run_unlearning(lm, RunSpec("ga", mode="lora", loop=LoopConfig(steps=1)), FORGET, RETAIN, RETAIN)


def test_a_sharded_run_holds_its_share_of_the_trained_state() -> None:
    """FSDP over 8 processes (sharding.py): each holds an eighth of the before copies, master copies,
    moments and gradients; activations and logits are its own batch's, unchanged."""
    model = llama_8b_shape()
    whole = estimate_run(model, RunShape("full", None, 8, None, 4, 256, True))
    eighth = estimate_run(model, RunShape("full", None, 8, None, 4, 256, True, shards=8))
    for part in ("before", "trained", "optimizer", "grads"):
        assert abs(getattr(eighth, part) * 8 - getattr(whole, part)) <= 8 * 4 * 2, part  # rounding up to whole elements
    assert (eighth.activations, eighth.logits) == (whole.activations, whole.logits)
