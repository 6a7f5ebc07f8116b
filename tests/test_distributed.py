"""One run on two processes (issue 17): `torchrun --nproc-per-node 2 -m unlearn run` on the CPU (gloo)
trains the tiny model as one process does with the same global batch: data parallel, and sharded
(`--shard`, FSDP2) for a full run and a LoRA run."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from unlearn.__main__ import main

ROOT = Path(__file__).resolve().parents[1]


def _items(path: Path, answer: str, n: int) -> Path:
    # one answer for every item: the token-mean loss of a batch is then the mean of its items' losses,
    # so a batch split over processes and averaged is the same arithmetic as the whole batch
    path.write_text(
        "".join(json.dumps({"question": f"Question number {i}?", "answer": answer}) + "\n" for i in range(n))
    )
    return path


def _run(cmd: list[str] | None, out: Path, tiny_dir: Path, data: Path, mode: str = "full", extra: tuple = ()) -> dict:
    """`python -m unlearn run ...` under the launcher `cmd`; None runs the one-process reference in this
    process (`main` as `python -m unlearn` calls it), which saves a fresh interpreter's imports."""
    args = ["run", "--model", str(tiny_dir), "--method", "grad_diff", "--mode", mode, *extra]
    args += ["--forget", str(data / "forget.jsonl"), "--retain", str(data / "retain.jsonl"), "--steps", "3"]
    args += ["--batch-size", "2", "--lr", "1e-3", "--eval-every", "0", "--out", str(out), "--json"]
    if cmd is None:
        printed, threads = io.StringIO(), torch.get_num_threads()
        torch.set_num_threads(1)  # as the launched processes run (OMP_NUM_THREADS=1 below)
        try:
            with contextlib.redirect_stdout(printed):
                assert main(args) == 0
        finally:
            torch.set_num_threads(threads)
        return json.loads(printed.getvalue().strip().splitlines()[-1])
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [*cmd, "-m", "unlearn", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def single(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The sets, and the one-process full run every multi-process run is held against (made once)."""
    data = tmp_path_factory.mktemp("sets")
    _items(data / "forget.jsonl", "It is red and round.", 4)
    _items(data / "retain.jsonl", "It is blue and square.", 4)
    return data, _run(None, data / "one", tiny_dir, data)


def test_two_processes_train_as_one_with_the_same_global_batch(single, tiny_dir: Path, tmp_path: Path) -> None:
    data, one = single
    torchrun = str(Path(sys.executable).parent / "torchrun")
    two = _run([torchrun, "--standalone", "--nproc-per-node", "2"], tmp_path / "two", tiny_dir, data)
    assert (one["world_size"], two["world_size"]) == (1, 2) and one["global_batch"] == two["global_batch"] == 2
    assert len(list((tmp_path / "two").iterdir())) == 1  # one run folder, written by the main process
    a = load_file(str(Path(one["run_dir"]) / "weights.safetensors"))
    b = load_file(str(Path(two["run_dir"]) / "weights.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    moved = max(float((a[k] - load_file(str(next(tiny_dir.glob("*.safetensors"))))[k]).abs().max()) for k in a)
    print(f"largest difference {worst:.2e}, largest change by the run {moved:.2e}")
    assert worst < 1e-5 < moved, (worst, moved)


def _weights(result: dict) -> dict:
    return load_file(str(Path(result["run_dir"]) / "weights.safetensors"))


def _largest_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_two_sharded_processes_train_as_one(single, tiny_dir: Path, tmp_path: Path) -> None:
    """FSDP2 over two gloo processes: each holds half of every trained tensor, its gradients and AdamW
    moments; the gathered weights equal one process's run. Full run: the largest difference was 1.1e-7
    against changes of 3.0e-3; LoRA: 1.5e-7 (float32 summation order; the test allows 1e-5)."""
    data, one_full = single
    torchrun = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc-per-node", "2"]
    for mode in ("full", "lora"):
        one = one_full if mode == "full" else _run(None, tmp_path / f"one_{mode}", tiny_dir, data, mode)
        two = _run(torchrun, tmp_path / f"two_{mode}", tiny_dir, data, mode, ("--shard",))
        assert (two["world_size"], two["sharded"], one["sharded"]) == (2, True, False)
        a, b = _weights(one), _weights(two)
        worst = _largest_difference(a, b)
        if mode == "full":  # the tensors the run changed, against the model it started from
            base = load_file(str(next(tiny_dir.glob("*.safetensors"))))
            moved = max(float((a[k] - base[k]).abs().max()) for k in a)
        else:  # the adapters' B matrices start at zero: their size is what the run made
            moved = max(float(a[k].abs().max()) for k in a if "lora_B" in k)
        print(f"{mode}: largest difference {worst:.2e}, largest change by the run {moved:.2e}")
        assert worst < 1e-5 < moved, (mode, worst, moved)


def test_shard_without_a_launcher_says_how_to_launch(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    _items(tmp_path / "forget.jsonl", "It is red and round.", 2)
    args = ["run", "--model", str(tiny_dir), "--forget", str(tmp_path / "forget.jsonl"), "--shard"]
    assert main(args) == 2 and "torchrun --nproc-per-node N" in capsys.readouterr().err


def test_the_accelerate_config_decides_sharding(monkeypatch) -> None:
    """`accelerate launch --config_file fsdp.yaml` sets ACCELERATE_USE_FSDP; a DeepSpeed config is refused
    with the FSDP config to use instead."""

    from unlearn.train.distributed import wants_shard

    assert not wants_shard(False) and wants_shard(True)
    monkeypatch.setenv("ACCELERATE_USE_FSDP", "true")
    assert wants_shard(False)
    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(ValueError, match="assets/accelerate/fsdp.yaml"):
        wants_shard(False)
