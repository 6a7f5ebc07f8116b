"""An after checkpoint read lazily against the loaded model: only what differs is kept (issue 16, step 1)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from unlearn.model.checkpoint_diff import PairError, diff_checkpoint
from unlearn.model.models import LoadedModel

Q_PROJ = "model.layers.0.self_attn.q_proj.weight"


def _copy(tiny_dir: Path, tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "after"
    shutil.copytree(tiny_dir, out)
    (weights,) = out.glob("*.safetensors")
    return out, weights


def _edit(weights: Path, **changes) -> None:
    tensors = load_file(str(weights))
    for name, fn in changes.items():
        tensors[name.replace("__", ".")] = fn(tensors[name.replace("__", ".")])
    save_file(tensors, str(weights), metadata={"format": "pt"})


def test_one_changed_matrix_costs_one_matrix(tiny: LoadedModel, tiny_dir: Path, tmp_path: Path) -> None:
    after, weights = _copy(tiny_dir, tmp_path)
    assert diff_checkpoint(tiny.model, after).changed == {}  # the same model: nothing kept
    _edit(weights, **{Q_PROJ.replace(".", "__"): lambda t: t + 0.5})
    d = diff_checkpoint(tiny.model, after)
    assert list(d.changed) == [Q_PROJ]
    here = tiny.model.state_dict()[Q_PROJ]
    assert d.bytes == here.numel() * here.element_size()  # 32 x 32 floats: 4,096 bytes, nothing else
    assert torch.equal(d.changed[Q_PROJ], here + 0.5)
    assert d.same == d.total - 1 and "1 of" in d.summary()


def test_every_tensor_changed_is_said(tiny: LoadedModel, tiny_dir: Path, tmp_path: Path) -> None:
    after, weights = _copy(tiny_dir, tmp_path)
    tensors = {k: v + 1.0 for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})
    d = diff_checkpoint(tiny.model, after)
    assert d.same == 0 and len(d.changed) == d.total and "every tensor differs" in d.summary()


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("num_hidden_layers", 3, "num_hidden_layers 2 here, 3"),
        ("vocab_size", 7, "vocab_size"),
        ("model_type", "gpt2", "gpt2"),
    ],
)
def test_another_model_is_refused_naming_what_differs(tiny, tiny_dir, tmp_path, field, value, words) -> None:
    after, _ = _copy(tiny_dir, tmp_path)
    cfg = json.loads((after / "config.json").read_text())
    cfg[field] = value
    (after / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PairError, match="another model") as e:
        diff_checkpoint(tiny.model, after)
    assert words in str(e.value)


def test_a_tensor_of_another_shape_is_named(tiny: LoadedModel, tiny_dir: Path, tmp_path: Path) -> None:
    after, weights = _copy(tiny_dir, tmp_path)
    _edit(weights, **{Q_PROJ.replace(".", "__"): lambda t: t[:, :16].contiguous()})
    with pytest.raises(PairError, match=r"q_proj.weight is \(32, 16\)"):
        diff_checkpoint(tiny.model, after)


def test_pickle_only_and_missing_tensors_are_refused(tiny: LoadedModel, tiny_dir: Path, tmp_path: Path) -> None:
    after, weights = _copy(tiny_dir, tmp_path)
    torch.save(load_file(str(weights)), after / "pytorch_model.bin")
    weights.unlink()
    with pytest.raises(PairError, match="pickle checkpoints are not read"):
        diff_checkpoint(tiny.model, after)
    after2, weights2 = _copy(tiny_dir, tmp_path / "b")
    tensors = load_file(str(weights2))
    del tensors[Q_PROJ]
    save_file(tensors, str(weights2), metadata={"format": "pt"})
    with pytest.raises(PairError, match="not in"):
        diff_checkpoint(tiny.model, after2)


# ---------------------------------------------------------------- step 2: the pair saved as a run
def test_an_imported_checkpoint_is_a_run_whose_after_is_the_checkpoint(tiny_dir, tmp_path, monkeypatch) -> None:
    from unlearn.model.import_pair import import_checkpoint
    from unlearn.model.models import load_model
    from unlearn.serve.runs_overview import overview
    from unlearn.train.runs import apply_run, list_runs

    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    after, weights = _copy(tiny_dir, tmp_path)
    _edit(weights, **{Q_PROJ.replace(".", "__"): lambda t: t * -1.0})
    lm = load_model(str(tiny_dir), device="cpu")
    ids = torch.tensor([[1, 5, 9, 12, 7]])
    with torch.no_grad():
        before_logits = lm.model(ids).logits.clone()
        want = load_model(str(after), device="cpu").model(ids).logits
    run = import_checkpoint(lm, after, name="my unlearned model")
    record = json.loads((run / "run.json").read_text())
    assert record["kind"] == "imported" and record["after"]["changed_tensors"] == 1
    assert record["after"]["source"] == str(after.resolve()) and len(record["after"]["digest"]) == 64
    assert load_file(str(run / "weights.safetensors")).keys() == {Q_PROJ}  # one matrix stored, not a model
    assert [r["id"] for r in list_runs()] == [run.name] and overview()[0]["method"] == "imported"
    tr = apply_run(lm, run)
    with torch.no_grad():
        assert torch.equal(lm.model(ids).logits, want)  # after = the checkpoint, exactly (same dtype)
        with tr.reference():
            assert torch.equal(lm.model(ids).logits, before_logits)  # before = the loaded model
    tr.reset()
    again = import_checkpoint(load_model(str(tiny_dir), device="cpu"), after)
    assert json.loads((again / "run.json").read_text())["after"]["digest"] == record["after"]["digest"]
    with pytest.raises(ValueError, match="nothing to compare"):
        import_checkpoint(load_model(str(tiny_dir), device="cpu"), tiny_dir)


def test_import_on_the_command_line_then_the_runs_tab_lists_it(tiny_dir, tmp_path, capsys, monkeypatch) -> None:
    from unlearn.__main__ import main

    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    after, weights = _copy(tiny_dir, tmp_path)
    _edit(weights, **{Q_PROJ.replace(".", "__"): lambda t: t + 1.0})
    assert main(["import", "--model", str(tiny_dir), "--after", str(after), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(out["run_dir"]).is_dir() and out["changed_tensors"] == 1 and "1 of" in out["summary"]
    other = tmp_path / "other"
    shutil.copytree(tiny_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps({**cfg, "num_hidden_layers": 3}))
    assert main(["import", "--model", str(tiny_dir), "--after", str(other)]) == 2  # refused with the message
    assert "num_hidden_layers" in capsys.readouterr().err

    from . import tabs

    rows, _, picker = tabs.runs_view_ui()
    assert rows[0][1] == "imported" and picker["value"] == out["run_dir"]


def test_changed_tied_embeddings_are_kept_once_and_undone(tiny, tiny_dir: Path, tmp_path: Path) -> None:
    """A full fine-tune changes the embeddings, which the output head shares: kept once, under the
    parameter's own name, and "before" and reset put the loaded values back (they were skipped once)."""
    from unlearn.model.import_pair import import_checkpoint
    from unlearn.train.runs import apply_run

    ids = torch.tensor([[3, 8, 13, 21]])
    with torch.no_grad():
        before = tiny.model(ids).logits.clone()
    state = {n: t + 0.01 for n, t in tiny.model.state_dict().items()}
    state["lm_head.weight"] = state["model.embed_tokens.weight"]  # saved under both names, as some savers do
    tiny.model.save_pretrained(str(tmp_path / "after"), state_dict=state)
    shutil.copy(tiny_dir / "tokenizer.json", tmp_path / "after")
    d = diff_checkpoint(tiny.model, tmp_path / "after")
    assert "lm_head.weight" not in d.changed and "model.embed_tokens.weight" in d.changed
    run = import_checkpoint(tiny, tmp_path / "after", root=tmp_path / "runs")
    tr = apply_run(tiny, run)
    with torch.no_grad():
        assert not torch.equal(tiny.model(ids).logits, before)
        with tr.reference():
            assert torch.equal(tiny.model(ids).logits, before)
    tr.reset()
    with torch.no_grad():
        assert torch.equal(tiny.model(ids).logits, before)
    state["lm_head.weight"] = state["model.embed_tokens.weight"] + 1.0  # untied in the checkpoint
    tiny.model.save_pretrained(str(tmp_path / "untied"), state_dict=state)
    with pytest.raises(PairError, match="tied tensor"):
        diff_checkpoint(tiny.model, tmp_path / "untied")


def test_before_kept_in_cpu_memory_is_exact(tiny) -> None:
    """The offloaded "before" (an imported pair on a GPU) computes exactly as the swap does; here on the
    CPU the code path is the same, only the copies' device differs on a GPU."""
    from unlearn.train.params import TensorTrainable

    ids = torch.tensor([[3, 8, 13, 21]])
    with torch.no_grad():
        before = tiny.model(ids).logits.clone()
        tr = TensorTrainable(tiny.model, r".*mlp.*", offload=True)
        assert all(s.device.type == "cpu" for s in tr.saved) and tr.offload
        for p in tr.params:
            p.add_(0.05)
        after = tiny.model(ids).logits.clone()
        with tr.reference():
            assert torch.equal(tiny.model(ids).logits, before)
        assert torch.equal(tiny.model(ids).logits, after)
        tr.reset()
        assert torch.equal(tiny.model(ids).logits, before)


def test_a_quantized_checkpoint_is_refused_saying_how_to_dequantize(tiny, tiny_dir: Path, tmp_path: Path) -> None:
    after, _ = _copy(tiny_dir, tmp_path)
    cfg = json.loads((after / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    (after / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(PairError, match=r"stored quantized \(bitsandbytes.*dequantize"):
        diff_checkpoint(tiny.model, after)
