from __future__ import annotations

import json

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.model.models import load_model
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.runs import apply_run, delete_run, list_runs, read_history, save_run

FORGET = [Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]


def _logits(lm) -> torch.Tensor:
    b = collate([encode(lm.tokenizer, e) for e in FORGET + RETAIN], lm.tokenizer.pad_token_id)
    with torch.no_grad():
        return lm.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.clone()


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_a_saved_run_comes_back_after_a_restart(mode: str, tiny_dir, tmp_path) -> None:
    lm = load_model(str(tiny_dir), device="cpu")
    before = _logits(lm)
    out = run_unlearning(
        lm, RunSpec("grad_diff", mode=mode, loop=LoopConfig(lr=1e-2, steps=3, batch_size=1)), FORGET, RETAIN, RETAIN
    )
    after = _logits(lm)
    run_dir = save_run(out, lm, {"forget": "f", "retain": "r"}, root=tmp_path)
    runs = list_runs(tmp_path)
    assert [r["id"] for r in runs] == [run_dir.name] and runs[0]["status"] == "finished"
    assert (
        len(read_history(run_dir)) == 3
        and runs[0]["metrics"]["forget_prob_after"] < runs[0]["metrics"]["forget_prob_before"]
    )
    # "restart": a fresh model from disk, then the run's weights
    fresh = load_model(str(tiny_dir), device="cpu")
    tr = apply_run(fresh, run_dir)
    assert torch.allclose(_logits(fresh), after, atol=1e-6)
    with tr.reference():
        assert torch.equal(_logits(fresh), before)
    tr.reset()
    assert torch.equal(_logits(fresh), before)
    delete_run(run_dir, root=tmp_path)
    assert list_runs(tmp_path) == []


def test_half_written_and_damaged_runs_are_skipped(tmp_path) -> None:
    (tmp_path / ".20260101-000000-npo.tmp").mkdir()
    bad = tmp_path / "20260101-000000-npo"
    bad.mkdir()
    (bad / "run.json").write_text("{not json")
    good = tmp_path / "20260102-000000-ga"
    good.mkdir()
    (good / "run.json").write_text(json.dumps({"id": good.name}))
    assert [r["id"] for r in list_runs(tmp_path)] == [good.name]


def test_delete_refuses_folders_outside_the_runs_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match="not a run"):
        delete_run(tmp_path.parent, root=tmp_path)


def test_a_tensor_run_goes_on_after_a_lora_run_was_on_the_model(tiny_dir, tmp_path) -> None:
    """PEFT keeps its wrapper on a module after a LoRA run is taken off (`down_proj.base_layer.weight`):
    a full or subset run saved under the plain names still goes on, and one saved under the wrapped
    names goes on a fresh model (the Runs tab's side by side and Compare switch runs this way)."""
    lm = load_model(str(tiny_dir), device="cpu")
    before = _logits(lm)
    spec = RunSpec("grad_diff", mode="full", loop=LoopConfig(lr=1e-2, steps=2, batch_size=1))
    full_dir = save_run(run_unlearning(lm, spec, FORGET, RETAIN, RETAIN), lm, {"forget": "f"}, root=tmp_path)
    after_full = _logits(lm)
    lm = load_model(str(tiny_dir), device="cpu")
    spec = RunSpec("grad_diff", mode="lora", loop=LoopConfig(lr=1e-2, steps=2, batch_size=1))
    out = run_unlearning(lm, spec, FORGET, RETAIN, RETAIN)
    out.trainable.reset()  # the LoRA run off: its wrappers stay
    assert any(".base_layer." in n for n, _ in lm.model.named_parameters())
    tr = apply_run(lm, full_dir)
    assert torch.allclose(_logits(lm), after_full, atol=1e-6)
    tr.reset()
    assert torch.equal(_logits(lm), before)
    # a run made on the wrapped model names its tensors `...base_layer.weight`: a fresh model takes it too
    spec = RunSpec("grad_diff", mode="full", loop=LoopConfig(lr=1e-2, steps=2, batch_size=1))
    wrapped_dir = save_run(run_unlearning(lm, spec, FORGET, RETAIN, RETAIN), lm, {"forget": "f"}, root=tmp_path)
    after_wrapped = _logits(lm)
    from safetensors.torch import load_file

    assert any(".base_layer." in n for n in load_file(str(wrapped_dir / "weights.safetensors")))
    fresh = load_model(str(tiny_dir), device="cpu")
    apply_run(fresh, wrapped_dir)
    assert torch.allclose(_logits(fresh), after_wrapped, atol=1e-6)
