"""Many runs, or many audits, on a Ray cluster (issue 17): `sweep --ray [ADDRESS]`, `audit --ray [ADDRESS]`.

Each entry of a sweep (a method with its options) and each run of an audit is one Ray task, and the
task runs this project's own command line on a worker: the same code path as on a laptop, so a result
from the cluster is the result a laptop would give. A task asks Ray for one GPU where the cluster has
GPUs, and for none otherwise; Ray does the placing, queueing and retrying, nothing here schedules.

The workers need not share a disk with the driver. A task gets what it needs as bytes (the run folder
an audit reads), works in a folder of its own, and sends back what it wrote (a sweep's run folders,
an audit's JSON); the driver writes that into its runs folder, so the results are listed in the Runs
tab as if they had been made here. The model and the sets are named as on the command line: on a
cluster that means hub ids (or paths every worker has) and this package installed on every worker.

Ray is optional: only `--ray` imports it. Without an address a local cluster is started in-process
(all of this machine's CPUs, and its GPUs); `auto` joins the cluster this machine is part of.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from unlearn.errors import UserError
from unlearn.model.paths import PROJECT

ROOT = PROJECT
IN, OUT = "{task_in}", "{task_out}"  # placeholders in a task's command line for its own folders
Files = dict[str, bytes]
Log = Callable[[str], None]


def pack(folder: Path, keep: Callable[[Path], bool] = lambda _: True) -> Files:
    """The files under `folder`, by path relative to it."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file() and keep(p)}


def unpack(files: Files, folder: Path) -> None:
    for rel, data in files.items():
        path = (folder / rel).resolve()
        if folder.resolve() not in path.parents:  # bytes from another machine name no place outside the folder
            raise ValueError(f"a task sent back a file outside its folder: {rel!r}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def place(files: Files, out: Path) -> dict[str, str]:
    """Write a task's run folders into `out`; a name already there (two workers started runs of one
    method in the same second) gets a suffix. Returns each folder's name -> the name it was given."""
    names: dict[str, str] = {}
    for top in sorted({Path(rel).parts[0] for rel in files}):
        if top in (".", "..") or Path(top).is_absolute():
            raise ValueError(f"a task sent back a file outside its folder: {top!r}")
        name, n = top, 2
        while (out / name).exists():
            name, n = f"{top}-{n}", n + 1
        names[top] = name
    out.mkdir(parents=True, exist_ok=True)
    unpack({str(Path(names[Path(rel).parts[0]], *Path(rel).parts[1:])): data for rel, data in files.items()}, out)
    return names


def run_command(argv: list[str], send: Files) -> dict[str, Any]:
    """On a worker: this project's command line on a folder of its own; what it printed and wrote."""
    from unlearn.__main__ import main

    with tempfile.TemporaryDirectory(prefix="unlearn-task-") as tmp:
        inside, outside = Path(tmp) / "in", Path(tmp) / "out"
        inside.mkdir()
        outside.mkdir()
        unpack(send, inside)
        argv = [a.replace(IN, str(inside)).replace(OUT, str(outside)) for a in argv]
        printed = io.StringIO()
        with redirect_stdout(printed):
            code = main(argv)
        lines = printed.getvalue().strip().splitlines()
        return {
            "code": code,
            "result": json.loads(lines[-1]) if code == 0 and lines else None,
            "wrote": pack(outside),
            # an audit writes beside the run it reads: its JSON files come back, the weights do not
            "beside": pack(inside, lambda p: p.name.startswith("audit")),
        }


def connect(address: str | None) -> Any:
    try:
        import ray
    except ImportError as e:
        raise UserError("--ray needs the ray package on this machine and the workers: pip install ray") from e
    if not ray.is_initialized():
        # a local cluster's workers import this package from this checkout, as the driver does
        env = {} if address else {"runtime_env": {"env_vars": {"PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}}}
        ray.init(address=address or None, **env)
    return ray


def submit(address: str | None, tasks: dict[str, tuple[list[str], Files]], log: Log) -> dict[str, dict[str, Any]]:
    """Every task on the cluster at once; their outcomes by name as they finish (an exception: `error`)."""
    ray = connect(address)
    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
    remote = ray.remote(num_gpus=gpus)(run_command)
    pending = {remote.remote(argv, send): name for name, (argv, send) in tasks.items()}
    log(f"{len(pending)} task(s) sent to Ray ({'one GPU each' if gpus else 'no GPU on the cluster: CPUs'})")
    done: dict[str, dict[str, Any]] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1)
        name = pending.pop(ready[0])
        try:
            done[name] = ray.get(ready[0])
        except Exception as e:  # a task that failed is reported in its row; the others go on
            done[name] = {"code": 1, "error": str(e).strip().splitlines()[-1][:500]}
        log(f"{name}: {'done' if done[name].get('code') == 0 else 'failed'} ({len(done)}/{len(tasks)})")
    return done


def ray_sweep(address: str | None, base: list[str], entries: list[str], out: Path, log: Log) -> list[dict[str, Any]]:
    """`sweep` with one task per entry; the runs land in `out`."""
    tasks = {e: (["sweep", *base, "--methods", e, "--out", OUT, "--json"], {}) for e in entries}
    rows = []
    for entry, got in submit(address, tasks, log).items():
        if got.get("code") != 0:
            rows.append({"method": entry, "error": got.get("error", f"exit {got.get('code')}")})
            continue
        placed = place(got["wrote"], out)
        for row in got["result"]["methods"]:
            if "run_dir" in row:  # the worker's folder -> where the driver wrote it
                row["run_dir"] = str(out / placed[Path(row["run_dir"]).name])
            rows.append(row)
    order = {e: i for i, e in enumerate(entries)}
    return sorted(rows, key=lambda r: order.get(r["method"], len(order)))


def ray_audit(address: str | None, runs: list[str], rest: list[str], log: Log) -> list[dict[str, Any]]:
    """`audit` with one task per run (RUN_DIR or RUN_DIR#step=N); each audit lands beside its run."""
    from unlearn.train.runs import STEP_MARK, split_ref

    tasks = {}
    for ref in runs:
        folder, step = split_ref(ref)
        name = Path(folder).name
        task_ref = f"{IN}/{name}" + (f"{STEP_MARK}{step}" if step is not None else "")
        tasks[ref] = (
            ["audit", "--run", task_ref, *rest, "--json"],
            {f"{name}/{k}": v for k, v in pack(Path(folder)).items()},
        )
    results = []
    finished = submit(address, tasks, log)
    for ref in runs:  # in the order given, not the order they finished
        got = finished[ref]
        folder = Path(split_ref(ref)[0])
        if got.get("code") != 0:
            results.append({"run": ref, "error": got.get("error", f"exit {got.get('code')}")})
            continue
        unpack({Path(*Path(rel).parts[1:]).as_posix(): data for rel, data in got["beside"].items()}, folder)
        res = got["result"]
        res["run_dir"], res["audit_json"] = str(folder), str(folder / Path(res["audit_json"]).name)
        results.append({"run": ref, **res})
    return results
