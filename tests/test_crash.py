"""A run killed with SIGKILL: every finished run stays intact, the killed one is listed as interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unlearn.__main__ import main
from unlearn.model.models import load_model
from unlearn.train.runs import PENDING, in_progress, list_runs

from . import tabs

RUN = ["run", "--device", "cpu", "--forget", "harry_potter:known", "--method", "ga", "--batch-size", "2"]


def test_the_marker_goes_when_a_run_ends_in_any_way_python_sees(tiny_dir: Path, tmp_path: Path) -> None:
    lm = load_model(str(tiny_dir), device="cpu")
    with in_progress("ga", lm, {"forget": "x"}, tmp_path) as marker:
        assert marker.is_file() and json.loads(marker.read_text())["pid"] == os.getpid()
        assert list_runs(tmp_path) == []  # still running: not listed
    assert not marker.exists()
    with pytest.raises(RuntimeError), in_progress("ga", lm, {}, tmp_path):
        raise RuntimeError("the loss became NaN")
    assert not list(tmp_path.glob(f"*{PENDING}"))


def test_sigkill_during_a_run_keeps_finished_runs_and_marks_the_killed_one(
    tiny_dir: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    root = tmp_path / "runs"
    assert main([*RUN, "--model", str(tiny_dir), "--steps", "1", "--out", str(root), "--json"]) == 0
    finished = Path(json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"])
    before = {p.name: p.read_bytes() for p in finished.iterdir()}
    args = [sys.executable, "-m", "unlearn", *RUN, "--model", str(tiny_dir), "--steps", "100000", "--out", str(root)]
    proc = subprocess.Popen(args, cwd=Path(__file__).resolve().parents[1], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not list(root.glob(f"*{PENDING}")) and time.time() < deadline:
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.2)
        while "step" not in (proc.stderr.readline() or "") and time.time() < deadline:
            pass  # until the run is training
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    runs = list_runs(root)
    assert [r["status"] for r in runs] == ["interrupted", "finished"], runs
    assert {p.name: p.read_bytes() for p in finished.iterdir()} == before  # the finished run, byte for byte
    # the app after a restart: the interrupted run is listed, refused with a message, deletable
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(root))
    labels = [label for label, _ in tabs.run_choices()]
    assert any("interrupted" in label for label in labels)
    marker = runs[0]["dir"]
    assert tabs.load_run_ui(marker).startswith("❌") and "interrupted" in tabs.load_run_ui(marker)
    assert "interrupted" in tabs.runs_export_ui(marker, type("R", (), {"session_hash": "k"})())[0]
    msg, _ = tabs.delete_run_ui(marker)
    assert msg.startswith("🗑") and [r["status"] for r in list_runs(root)] == ["finished"]


def _files(root: Path) -> dict[str, bytes]:
    """Every file of every saved run (markers of runs in progress left out)."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not p.name.endswith(PENDING))
    return {str(p.relative_to(root)): p.read_bytes() for p in files}


def test_sigkill_of_the_server_during_a_run_then_restart(tiny_dir: Path, tmp_path: Path) -> None:
    """Twice: finish a run, start another, SIGKILL the whole server while it trains, restart.
    Every finished run must come back byte for byte and each killed run be listed as interrupted."""
    from gradio_client import Client

    from .browser import app_in_process, app_server
    from .sessions import run_args, wait_training

    env, root = {"UNLEARN_CACHE_DIR": str(tmp_path)}, tmp_path / "runs"
    for restart in range(2):
        with app_server(str(tiny_dir), env) as (url, proc):
            c = Client(url, verbose=False)
            if restart:  # what the first server left, as the restarted one shows it
                assert "interrupted" in str(c.predict(api_name="/runs")[0])
            assert c.predict(*run_args(c, 2), api_name="/run")[0].startswith("✅")
            finished = _files(root)
            run = c.submit(*run_args(c, 100_000), api_name="/run")
            wait_training(run, time.time() + 120)
            assert len(list(root.glob(f"*{PENDING}"))) == restart + 1  # this run's marker, and the last one's
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        assert _files(root) == finished  # every finished run byte for byte, nothing of the killed one
    with app_in_process(str(tiny_dir), env) as (url, _):  # the restart: a new app reading the same disk
        c = Client(url, verbose=False)
        table, _, pick = c.predict(api_name="/runs")
        assert sorted(row[2] for row in table["data"]) == ["finished"] * 2 + ["interrupted"] * 2, table
        dirs = {("interrupted" if "interrupted" in label else "finished"): d for label, d in pick["choices"]}
        assert "interrupted" in c.predict(dirs["interrupted"], api_name="/open_run")
        assert c.predict(dirs["finished"], api_name="/open_run").startswith("✅")
        assert "interrupted" in c.predict(dirs["interrupted"], api_name="/export_run")[0]
