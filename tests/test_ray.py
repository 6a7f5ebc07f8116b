"""Many runs and audits on a Ray cluster (issue 17): a local Ray cluster runs a sweep's entries and then
the audits of its runs as tasks. The runs land in the runs folder and the audits beside them, as they do
here, and the cluster's figures are those of the same sweep run in this process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import ray

from unlearn.__main__ import main
from unlearn.train.runs import list_runs

SETS = ["--forget", "fictitious_authors:forget", "--retain", "fictitious_authors:retain", "--steps", "1"]


@pytest.fixture
def local_ray():
    yield
    ray.shutdown()


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_sweep_and_its_audits_on_a_local_ray_cluster(local_ray, tiny_dir: Path, tmp_path: Path, capsys) -> None:
    base = ["sweep", "--model", str(tiny_dir), "--device", "cpu", "--methods", "ga", "npo", *SETS, "--json"]
    assert main([*base, "--out", str(tmp_path / "here")]) == 0
    here = _last_json(capsys)["methods"]
    assert main([*base, "--ray", "--out", str(tmp_path / "ray")]) == 0
    rows = _last_json(capsys)["methods"]
    assert [r["method"] for r in rows] == ["ga", "npo"]
    for r, h in zip(rows, here, strict=True):  # the same command on a worker: the same run
        assert r["forget_prob_after"] == pytest.approx(h["forget_prob_after"], rel=1e-6)
        assert Path(r["run_dir"]).parent == tmp_path / "ray" and (Path(r["run_dir"]) / "run.json").is_file()
    assert len(list_runs(tmp_path / "ray")) == 2  # what the Runs tab lists

    audit = ["audit", "--ray", "--run", rows[0]["run_dir"], "--run", rows[1]["run_dir"], "--items", "3"]
    audit += ["--neighbours", "2", "--surfaces", "0", "--probe-items", "0", "--no-relearn", "--no-utility-sets"]
    assert main([*audit, "--no-gradnorm", "--json"]) == 0
    audits = _last_json(capsys)["audits"]
    assert [a["run"] for a in audits] == [rows[0]["run_dir"], rows[1]["run_dir"]]
    for a in audits:
        saved = json.loads(Path(a["audit_json"]).read_text())
        assert Path(a["audit_json"]).parent == Path(a["run_dir"]) and 0 <= a["remind_auc"] <= 1
        assert saved["summary"]["remind_auc"] == a["remind_auc"]


def test_ray_missing_says_how_to_install(monkeypatch, tiny_dir: Path, capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as on a machine without it: import fails
    assert main(["sweep", "--ray", "--model", str(tiny_dir), "--methods", "ga", *SETS]) == 2
    assert "pip install ray" in capsys.readouterr().err


def test_several_runs_need_ray_and_reports_are_written_afterwards(tmp_path: Path, capsys) -> None:
    assert main(["audit", "--run", str(tmp_path / "a"), "--run", str(tmp_path / "b")]) == 2
    assert "--ray" in capsys.readouterr().err
    assert main(["audit", "--ray", "--run", str(tmp_path / "a"), "--html", str(tmp_path / "r.html")]) == 2
    assert "afterwards" in capsys.readouterr().err


def test_two_run_folders_of_one_name_both_land(tmp_path: Path) -> None:
    """Two workers can start runs of one method in the same second: the second folder gets a suffix."""
    from unlearn.tools.ray_jobs import place

    (tmp_path / "20261130-163059-npo").mkdir()
    names = place({"20261130-163059-npo/run.json": b"{}", "20261130-163059-npo/steps/a.bin": b"x"}, tmp_path)
    assert names == {"20261130-163059-npo": "20261130-163059-npo-2"}
    assert (tmp_path / "20261130-163059-npo-2" / "steps" / "a.bin").read_bytes() == b"x"
    with pytest.raises(ValueError, match="outside its folder"):
        place({"../escape/run.json": b"{}"}, tmp_path)
