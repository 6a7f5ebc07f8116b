"""Runs leave the app as standard models, and come back as pairs (issue 16): export a run with
`--format hf` or `--format peft`, load it with transformers / PEFT alone, import it as a pair, and
the after logits equal the run's (exactly for safetensors in the same dtype)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM

from unlearn.__main__ import main
from unlearn.data.examples import Example
from unlearn.model.checkpoint_diff import PairError
from unlearn.model.export_run import export_run
from unlearn.model.import_pair import import_checkpoint
from unlearn.model.models import ModelLoadError, load_model
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.params import LoraTrainable, TensorTrainable
from unlearn.train.runs import apply_run, save_run

FORGET = [Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]
IDS = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])


def _plain(folder: Path) -> torch.nn.Module:
    """Loaded with transformers alone, on the kernel the app loads models with (eager rounds differently)."""
    return AutoModelForCausalLM.from_pretrained(folder, attn_implementation="sdpa")


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(IDS).logits.clone()


def _run(tiny_dir: Path, root: Path, mode: str) -> tuple[Path, torch.Tensor, torch.Tensor]:
    """A saved 3-step run on the tiny model: (its folder, logits before, logits after)."""
    lm = load_model(str(tiny_dir), device="cpu")
    before = _logits(lm.model)
    spec = RunSpec("grad_diff", mode=mode, loop=LoopConfig(lr=5e-2, steps=3, batch_size=1))
    out = run_unlearning(lm, spec, FORGET, RETAIN, RETAIN)
    after = _logits(lm.model)
    assert not torch.equal(before, after)
    return save_run(out, lm, {"forget": "f", "retain": "r"}, root=root), before, after


def test_full_run_round_trip_is_exact(tiny_dir: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    run, before, after = _run(tiny_dir, tmp_path / "runs", "full")
    out = tmp_path / "export"
    assert main(["export", "--run", str(run), "--format", "hf", "--out", str(out), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["out"] == str(out) and "model.safetensors" in printed["files"] and "README.md" in printed["files"]
    # loadable with transformers alone, and it is the run's after model, bit for bit
    plain = _plain(out)
    assert torch.equal(_logits(plain), after)
    card = (out / "README.md").read_text()
    assert "grad_diff" in card and "forget set | f" in card and "hyperparameter" in card
    # ... and back as a pair: after = the run's after, before = the base, exactly
    assert main(["import", "--model", str(tiny_dir), "--after", str(out), "--json"]) == 0
    pair = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    lm = load_model(str(tiny_dir), device="cpu")
    tr = apply_run(lm, pair)
    assert isinstance(tr, TensorTrainable) and torch.equal(_logits(lm.model), after)
    with tr.reference():
        assert torch.equal(_logits(lm.model), before)
    # the pair's stored tensors are the run's: the same names and values
    ours, theirs = load_file(str(run / "weights.safetensors")), load_file(str(pair / "weights.safetensors"))
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    # a pair is exported like any run
    again = tmp_path / "export2"
    tr.reset()
    export_run(lm, pair, "hf", again)
    assert torch.equal(_logits(_plain(again)), after)


def test_lora_run_exports_as_adapter_and_merged(tiny_dir: Path, tmp_path: Path) -> None:
    run, before, after = _run(tiny_dir, tmp_path / "runs", "lora")
    lm = load_model(str(tiny_dir), device="cpu")
    export_run(lm, run, "peft", tmp_path / "adapter")
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md"} <= {
        p.name for p in (tmp_path / "adapter").iterdir()
    }
    peft_model = PeftModel.from_pretrained(_plain(tiny_dir), tmp_path / "adapter")
    assert torch.allclose(_logits(peft_model), after, atol=1e-5)
    export_run(lm, run, "hf", tmp_path / "merged")  # base + PEFT's delta: equal up to float rounding
    assert torch.allclose(_logits(_plain(tmp_path / "merged")), after, atol=1e-5)
    assert torch.equal(_logits(lm.model), before)  # exporting left the model as it was
    assert not any("lora_" in n for n, _ in lm.model.named_parameters())


def test_an_imported_adapter_holds_no_copy_of_the_base(tiny_dir: Path, tmp_path: Path) -> None:
    run, before, after = _run(tiny_dir, tmp_path / "runs", "lora")
    lm = load_model(str(tiny_dir), device="cpu")
    export_run(lm, run, "peft", tmp_path / "adapter")
    pair = import_checkpoint(lm, tmp_path / "adapter", root=tmp_path / "runs")
    record = json.loads((pair / "run.json").read_text())
    assert record["after"]["kind"] == "peft" and record["trainable"] == "lora"
    stored = load_file(str(pair / "weights.safetensors"))
    stored_bytes = sum(t.numel() * t.element_size() for t in stored.values())
    fresh = LoraTrainable(lm.model, r=8).model  # an adapter of the run's rank and targets, to count its bytes
    adapter = sum(p.numel() * p.element_size() for n, p in fresh.named_parameters() if "lora_" in n)
    lm.model.delete_adapter("unlearn")
    assert stored_bytes == adapter == record["after"]["changed_bytes"]  # the adapter, nothing else
    assert all("lora_" in n for n in stored)  # no base tensor among them
    tr = apply_run(lm, pair)
    assert isinstance(tr, LoraTrainable) and not hasattr(tr, "saved")  # adapters off is before: nothing held
    assert torch.allclose(_logits(lm.model), after, atol=1e-5)
    with tr.reference():
        assert torch.equal(_logits(lm.model), before)
    tr.reset()


def test_bad_pairs_and_exports_are_refused_with_a_message(tiny_dir: Path, tmp_path: Path) -> None:
    run, _, _ = _run(tiny_dir, tmp_path / "runs", "full")
    lm = load_model(str(tiny_dir), device="cpu")
    with pytest.raises(ValueError, match="no adapter: export it with --format hf"):
        export_run(lm, run, "peft", tmp_path / "a")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an empty folder"):
        export_run(lm, run, "hf", tmp_path / "busy")
    assert (tmp_path / "busy" / "x.txt").read_text() == "keep me"
    export_run(lm, run, "hf", tmp_path / "ok")
    # another tokenizer: every probe would compare other tokens, so the pair is refused
    other = tmp_path / "other_vocab"
    shutil.copytree(tmp_path / "ok", other)
    tok = json.loads((other / "tokenizer.json").read_text())
    vocab = tok["model"]["vocab"]
    a, b = list(vocab)[100:102]
    vocab[a], vocab[b] = vocab[b], vocab[a]
    (other / "tokenizer.json").write_text(json.dumps(tok))
    with pytest.raises(PairError, match="not the loaded model's: .* 2 mapped differently"):
        import_checkpoint(lm, other, root=tmp_path / "runs")
    # an adapter of another kind, or one made for another model
    bad = tmp_path / "ia3"
    bad.mkdir()
    (bad / "adapter_config.json").write_text(json.dumps({"peft_type": "IA3"}))
    with pytest.raises(PairError, match="IA3 adapter; only LoRA"):
        import_checkpoint(lm, bad, root=tmp_path / "runs")
    with pytest.raises(PairError, match="not a hub id|No model folder"):
        import_checkpoint(lm, tmp_path / "nothing_here", root=tmp_path / "runs")


def test_an_uncached_hub_id_offline_says_what_to_do(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(PairError, match="not in the local hub cache"):
        import_checkpoint(tiny, "open-unlearning/no-such-model", root=tmp_path)


def test_a_hub_id_resolves_to_its_cached_snapshot(tiny, tiny_dir, tmp_path, monkeypatch) -> None:
    snapshot = tmp_path / "snapshot"
    shutil.copytree(tiny_dir, snapshot)
    w = load_file(str(next(snapshot.glob("*.safetensors"))))
    w["model.norm.weight"] = w["model.norm.weight"] * 2
    from safetensors.torch import save_file

    save_file(w, str(next(snapshot.glob("*.safetensors"))), metadata={"format": "pt"})
    monkeypatch.setattr("unlearn.model.import_pair.hub_folder", lambda repo: str(snapshot))
    pair = import_checkpoint(tiny, "someone/unlearned-tiny", root=tmp_path / "runs")
    after = json.loads((pair / "run.json").read_text())["after"]
    assert after["kind"] == "hub" and after["source"] == "someone/unlearned-tiny" and after["changed_tensors"] == 1


def test_the_bundled_gguf_as_after_is_the_same_model(bundled, tmp_path) -> None:
    from unlearn.model.models import bundled_gguf_path

    with pytest.raises(PairError, match="equals the loaded model tensor for tensor"):
        import_checkpoint(bundled, bundled_gguf_path(), root=tmp_path)


def test_an_adapter_folder_loads_as_a_model_of_its_own(tiny_dir: Path, tmp_path: Path) -> None:
    """A retain-only model (or any model) given as a PEFT adapter folder: its base with the adapter merged."""
    run, _, after = _run(tiny_dir, tmp_path / "runs", "lora")
    export_run(load_model(str(tiny_dir), device="cpu"), run, "peft", tmp_path / "adapter")
    lm = load_model(str(tmp_path / "adapter"), device="cpu")
    assert torch.allclose(_logits(lm.model), after, atol=1e-5) and "merged into" in lm.name
    assert not any("lora_" in n for n, _ in lm.model.named_parameters())  # merged: a plain model again
    cfg = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    (tmp_path / "adapter" / "adapter_config.json").write_text(json.dumps({**cfg, "base_model_name_or_path": None}))
    with pytest.raises(ModelLoadError, match="names no base model"):
        load_model(str(tmp_path / "adapter"), device="cpu")
