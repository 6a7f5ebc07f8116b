from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn.__main__ import main


def test_methods_json_lists_every_registered_method(capsys) -> None:
    from unlearn.train.methods import METHODS

    assert main(["methods", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["methods"]
    assert {r["id"] for r in rows} == set(METHODS)
    assert all({"id", "name", "paper", "needs_retain", "parameters_trained", "faithful"} <= set(r) for r in rows)


def test_a_method_that_declares_a_subset_trains_it_by_default(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    # RMU's paper (Li et al. 2024, arXiv 2403.03218) trains only mlp.down_proj of layers l−2..l: the default
    assert main(["methods", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out.strip().splitlines()[-1])["methods"]}
    assert rows["rmu"]["default_mode"] == "subset" and rows["reva"]["default_mode"] == "subset"
    assert rows["npo"]["default_mode"] == "lora" and rows["reglu"]["default_mode"] == "lora"
    assert rows["rmu"]["parameters_trained"].startswith("its own subset (default")
    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--forget", "harry_potter:known"]
    args += ["--retain", "general_knowledge", "--method", "rmu", "--steps", "1", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path), "--json"]) == 0
    run_dir = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    record = json.loads((run_dir / "run.json").read_text())
    assert record["trainable"] == "tensors" and record["spec"]["mode"] == "subset"
    from safetensors.torch import load_file

    # the tiny model has 2 layers: l = 7 is clamped to 1, so layers 0..1
    assert sorted(load_file(str(run_dir / "weights.safetensors"))) == [
        f"model.layers.{i}.mlp.down_proj.weight" for i in (0, 1)
    ]
    assert main([*args, "--mode", "lora", "--out", str(tmp_path), "--json"]) == 0  # LoRA stays a choice
    run_dir = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    assert json.loads((run_dir / "run.json").read_text())["trainable"] == "lora"


def test_run_prints_one_json_line_and_saves_the_run(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--forget", "harry_potter:known"]
    args += ["--retain", "general_knowledge", "--method", "npo", "--steps", "2", "--batch-size", "2"]
    args += ["--hp", "beta=0.2", "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("run_dir", "method", "steps", "seconds", "forget_prob_before", "forget_prob_after"):
        assert key in out
    assert out["steps"] == 2 and Path(out["run_dir"], "run.json").is_file()
    record = json.loads(Path(out["run_dir"], "run.json").read_text())
    assert record["hparams"]["beta"] == 0.2


@pytest.mark.parametrize("bad", [["--lr", "-1"], ["--method", "nope"], ["--hp", "bogus=1"], ["--batch-size", "0"]])
def test_bad_run_options_exit_2_with_a_message(bad: list[str], tiny_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--steps", "1", "--out", str(tmp_path), *bad]
    assert main(args) == 2
    assert "error:" in capsys.readouterr().err


def test_sweep_runs_each_method_from_the_same_before_and_prints_the_table(
    tiny_dir: Path, tmp_path: Path, capsys
) -> None:
    args = ["sweep", "--model", str(tiny_dir), "--device", "cpu", "--methods", "ga", "npo", "npo+gu=2+coreset=0.5"]
    args += ["--forget", "harry_potter:known", "--steps", "1", "--out", str(tmp_path), "--json"]
    assert main(args) == 0
    out = capsys.readouterr().out.strip().splitlines()
    rows = json.loads(out[-1])["methods"]
    assert [r["method"] for r in rows] == ["ga", "npo", "npo+gu=2+coreset=0.5"]
    assert rows[1]["faithful"] and not rows[2]["faithful"]  # GU without Adam preconditioning: a reconstruction
    assert any(line.startswith("| NPO + gu=2 + coreset=0.5") for line in out)
    # both started from the same model: the same "before"
    assert rows[0]["forget_prob_before"] == pytest.approx(rows[1]["forget_prob_before"], rel=1e-9)
    assert any(line.startswith("| Gradient ascent") for line in out)


def test_audit_a_saved_run_prints_the_headline_json(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--forget", "fictitious_authors:forget"]
    args += ["--retain", "fictitious_authors:retain", "--method", "grad_diff", "--steps", "2", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path), "--json"]) == 0
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    report = tmp_path / "report" / "audit.html"
    args = ["audit", "--run", run_dir, "--items", "4", "--neighbours", "2", "--surfaces", "1", "--probe-items", "1"]
    args += ["--utility-items", "3", "--retain-model", str(tiny_dir)]
    assert main([*args, "--html", str(report), "--json"]) == 0
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    out = json.loads(last, parse_constant=lambda c: pytest.fail(f"{c} in the JSON line"))  # strict JSON
    assert out["html"] == str(report) and report.read_text().startswith("<!doctype html>")
    figures = json.loads(Path(out["figures_json"]).read_text())
    assert "2-D surface, forget item #1" in figures and all("data" in f for f in figures.values())
    assert json.loads((Path(run_dir) / "audit.json").read_text())["summary"]["remind_auc"] == out["remind_auc"]
    for key in ("remind_auc", "mink_pp_auc_before", "mink_pp_auc_after", "loss_auc_after"):
        assert 0.0 <= out[key] <= 1.0, key
    assert out["sets"]["forget"] == "fictitious_authors:forget" and out["items"]["holdout"] == 4
    # the holdout defaults to the forget set's own split, so no different-source warning
    assert out["sets"]["holdout"] == "fictitious_authors:holdout" and out["holdout_note"] is None
    assert "after: scoring 4 forget items" in captured.err
    # the figures the issue names, under their published definitions
    assert out["utility_n_parts"] == 9 and 0 <= out["model_utility"] <= 1
    assert -100 <= out["privleak_min_k"] and out["privleak_min_k"] == pytest.approx(
        ((1 - out["min_k_auc_after"]) - (1 - out["min_k_auc_retain_model"])) / (1 - out["min_k_auc_retain_model"]) * 100
    )
    for key in (
        "quantization_recovery_4bit",
        "gradnorm_auc_after",
        "reference_auc_after",
    ):
        assert key in out, key
    assert "quantization_recovery_8bit" not in out  # 8 bits is a control, asked for with --quantize 8 4
    assert out["forget_quality_n"] == {"unlearned": 20, "retain_model": 20}
    assert main(["audit", "--run", run_dir, "--holdout", "", "--items", "4"]) == 2  # no holdout: a message
    assert "holdout" in capsys.readouterr().err


def test_audit_holdout_from_another_source_is_named_and_none_of_its_own_is_refused(
    tiny_dir: Path, tmp_path: Path, capsys
) -> None:
    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--forget", "harry_potter:known"]
    args += ["--retain", "general_knowledge", "--method", "npo", "--steps", "1", "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path), "--json"]) == 0
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    assert main(["audit", "--run", run_dir, "--items", "4"]) == 2  # harry_potter has no holdout split
    assert "--holdout" in capsys.readouterr().err
    args = ["audit", "--run", run_dir, "--items", "3", "--neighbours", "2", "--surfaces", "0", "--probe-items", "0"]
    args += [
        "--holdout",
        "fictitious_authors:holdout",
        "--no-relearn",
        "--no-utility-sets",
        "--no-gradnorm",
        "--quantize",
    ]
    assert main([*args, "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert "different sources" in out["holdout_note"] and "warning: Forget (harry_potter:known)" in captured.err
    assert "different sources" in json.loads((Path(run_dir) / "audit.json").read_text())["holdout_note"]
    assert out["model_utility"] is None and out["retain_utility_after"] is not None  # no Real Authors / World Facts
    assert "quantization_recovery_4bit" not in out and "gradnorm_auc_after" not in out
