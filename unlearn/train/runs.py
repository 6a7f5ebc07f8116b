"""Run store: one folder per run with its config, per-step history, metrics and changed weights.

Written atomically (a temporary folder renamed into place), so a crash never leaves a run that
looks complete. Layout of a run folder:

    run.json            method, spec, hyperparameters, metrics, status, timestamps
    history.jsonl       one line per optimizer step (losses, lr, live probabilities)
    weights.safetensors the weights the run changed (LoRA adapters or trained tensors)
    checkpoints/step-000004.safetensors   the same after step 4 (runs with `save_every`)
    audit.json, audit-step-000004.json    the audit of the run's end, of a saved step

A saved step is named by its run reference `RUN_DIR#step=4` wherever a run folder is taken (the
Compare and Audit pickers, `audit --run`), so an audit along the run needs nothing new downstream.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from unlearn.errors import UserError
from unlearn.model.models import LoadedModel
from unlearn.model.paths import atomic_dir, cache_dir
from unlearn.model.peft_adapter import config_from
from unlearn.train.engine import RunOutcome
from unlearn.train.params import ADAPTER, LoraTrainable, TensorTrainable, Trainable

RUNS_ENV = "UNLEARN_RUNS_DIR"
RUN_FILE, HISTORY_FILE, WEIGHTS_FILE = "run.json", "history.jsonl", "weights.safetensors"
PENDING = ".running.json"  # the marker of a run in progress (see `in_progress`)
CHECKPOINTS, STEP_MARK = "checkpoints", "#step="


def run_ref(run_dir: str | Path, step: int | None = None) -> str:
    """The reference of a run's end (its folder) or of one of its saved steps (`RUN_DIR#step=N`)."""
    return str(run_dir) if step is None else f"{run_dir}{STEP_MARK}{step}"


def split_ref(ref: str | Path) -> tuple[str, int | None]:
    """(run folder, saved step or None) from a run reference."""
    folder, mark, step = str(ref).partition(STEP_MARK)
    if not mark:
        return folder, None
    if not step.isdigit():
        raise UserError(f"{str(ref)[:200]!r}: a saved step is written RUN_DIR{STEP_MARK}N, N a step number")
    return folder, int(step)


def checkpoint_file(run_dir: str | Path, step: int) -> Path:
    return Path(run_dir) / CHECKPOINTS / f"step-{step:06d}.safetensors"


def saved_steps(record: dict[str, Any]) -> list[int]:
    return [int(k) for k in record.get("checkpoints", [])]


def runs_dir() -> Path:
    """$UNLEARN_RUNS_DIR, else `runs/` inside the cache folder."""
    path = Path(os.environ.get(RUNS_ENV) or cache_dir() / "runs").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_run_folder(root: Path, label: str) -> Path:
    """A free name for a new run's folder: the time and `label`, numbered when two runs share a second."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final, k = root / f"{stamp}-{label}", 2
    while final.exists():
        final, k = root / f"{stamp}-{label}-{k}", k + 1
    return final


def save_run(out: RunOutcome, lm: LoadedModel, sets: dict[str, str], root: Path | None = None) -> Path:
    """Write a finished (or cancelled) run; returns its folder."""
    root = root or runs_dir()
    final = new_run_folder(root, out.spec["method"])
    record: dict[str, Any] = {
        "id": final.name,
        "method": out.spec["method"],
        "status": "cancelled" if out.cancelled else "finished",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": {"name": lm.name, "ref": lm.source.ref, "kind": lm.source.kind, "taught": lm.taught or None},
        "sets": sets,
        "spec": out.spec,
        "hparams": out.hparams,
        "trainable": out.trainable.kind,
        "steps": len(out.history),
        "seconds": round(out.seconds, 2),
        "metrics": out.metrics,
        "checkpoints": sorted(out.checkpoints),
        "stop": out.stop,
    }
    with atomic_dir(final) as tmp:
        save_file(out.trainable.changed(), str(tmp / WEIGHTS_FILE))
        for step, tensors in out.checkpoints.items():
            checkpoint_file(tmp, step).parent.mkdir(exist_ok=True)
            save_file(tensors, str(checkpoint_file(tmp, step)))
        (tmp / HISTORY_FILE).write_text("".join(json.dumps(h) + "\n" for h in out.history))
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1))
    return final


@contextmanager
def in_progress(method: str, lm: LoadedModel, sets: dict[str, str], root: Path | None = None) -> Iterator[Path]:
    """A marker file for the length of a run: removed when the run ends in any way Python sees
    (finished, cancelled, failed). If the process is killed, the marker stays and `list_runs`
    reports the run as interrupted, so a crash never passes silently."""
    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    marker = root / f"{time.strftime('%Y%m%d-%H%M%S')}-{method}{PENDING}"
    record = {"id": marker.name.removesuffix(PENDING), "method": method, "pid": os.getpid()}
    record |= {"started": time.strftime("%Y-%m-%dT%H:%M:%S"), "model": {"name": lm.name, "ref": lm.source.ref}}
    tmp = marker.with_name("." + marker.name)
    tmp.write_text(json.dumps({**record, "sets": sets}))
    os.replace(tmp, marker)  # atomic: a reader sees the whole marker or none
    try:
        yield marker
    finally:
        marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _interrupted(marker: Path) -> dict[str, Any] | None:
    """A marker whose process is gone, as a run record with status "interrupted" (no weights)."""
    try:
        rec = json.loads(marker.read_text())
    except (json.JSONDecodeError, OSError):
        return None
    if _alive(int(rec.get("pid", -1))):
        return None  # still running (here or in another process)
    return {**rec, "status": "interrupted", "steps": None, "seconds": None, "metrics": {}, "dir": str(marker)}


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every complete run and every interrupted one, newest first (half-written temporary folders
    and runs still in progress are skipped)."""
    root = root or runs_dir()
    out = []
    for d in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        if d.name.startswith("."):
            continue
        if d.name.endswith(PENDING):
            rec = _interrupted(d)
            if rec is not None:
                out.append(rec)
            continue
        f = d / RUN_FILE
        if not f.is_file():
            continue
        try:
            out.append({**json.loads(f.read_text()), "dir": str(d)})
        except (json.JSONDecodeError, OSError):
            continue  # a damaged run is skipped, not fatal
    return out


def read_history(run_dir: Path) -> list[dict[str, float]]:
    lines = (Path(run_dir) / HISTORY_FILE).read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def _current_name(name: str, names: set[str]) -> str:
    """A saved tensor's name on the model as it is now. Once a LoRA run has been on a module, PEFT keeps
    its wrapper after the adapters are removed (`down_proj.weight` is then `down_proj.base_layer.weight`),
    and a run made on such a model saved the wrapped name: the same tensor either way. `names`: the
    model's parameter names."""
    if name in names:
        return name
    plain = name.replace(".base_layer.", ".")
    head, _, leaf = plain.rpartition(".")
    for candidate in (plain, f"{head}.base_layer.{leaf}"):
        if candidate in names:
            return candidate
    return name  # not on this model: apply_run says so


def apply_run(lm: LoadedModel, run_dir: Path, step: int | None = None) -> Trainable:
    """Put a saved run's weights (at its end, or at a saved `step`) onto `lm` (which must be the run's
    base model): the model is then "after", and the returned trainable gives "before" and reset."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / RUN_FILE).read_text())
    if step is not None and step not in saved_steps(record):
        kept = ", ".join(map(str, saved_steps(record))) or "none (run it with 'save every k steps')"
        raise UserError(f"run {run_dir.name} kept no weights at step {step}; the steps it kept: {kept}")
    source = checkpoint_file(run_dir, step) if step is not None else run_dir / WEIGHTS_FILE
    weights = load_file(str(source), device=str(lm.device))
    spec = record["spec"]
    if record["trainable"] == "lora" and "adapter_config" in spec:  # an imported PEFT adapter: its own config
        tr: Trainable = LoraTrainable(lm.model, config=config_from(spec["adapter_config"]))
    elif record["trainable"] == "lora":
        tr = LoraTrainable(lm.model, r=spec["lora_r"], alpha=2 * spec["lora_r"])
    else:
        # embeddings too: an imported checkpoint may have changed them (runs made here never do). On a GPU
        # an imported pair's before side waits in CPU memory: it may be a whole second model
        offload = record.get("kind") == "imported" and lm.device.type == "cuda"
        names = {n for n, _ in lm.model.named_parameters()}
        weights = {_current_name(n, names): w for n, w in weights.items()}
        tr = TensorTrainable(lm.model, "|".join(map(re.escape, weights)), skip_embeddings=False, offload=offload)
    params = dict(lm.model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        tr.reset()
        raise UserError(
            f"run {run_dir.name} does not fit the loaded model (no {missing[0]}): load {record['model']['ref']}"
        )
    with torch.no_grad():
        for n, w in weights.items():
            params[n].copy_(w.to(params[n].dtype))
    for p in tr.params:
        p.requires_grad_(False)
    return tr


def delete_run(run_dir: Path, root: Path | None = None) -> None:
    """Delete one run folder (only inside the runs folder)."""
    root = (root or runs_dir()).resolve()
    if "\x00" in str(run_dir):  # resolve() would fail with "embedded null byte", naming nothing useful
        raise UserError(f"{str(run_dir)!r} is not a run in {root}")
    run_dir = Path(run_dir).resolve()
    if run_dir.parent == root and run_dir.name.endswith(PENDING) and _interrupted(run_dir) is not None:
        run_dir.unlink()  # an interrupted run: only its marker exists
        return
    if run_dir.parent != root or not (run_dir / RUN_FILE).is_file():
        raise UserError(f"{run_dir} is not a run in {root}")
    shutil.rmtree(run_dir)


__all__ = [
    "ADAPTER",
    "apply_run",
    "checkpoint_file",
    "delete_run",
    "in_progress",
    "list_runs",
    "new_run_folder",
    "read_history",
    "run_ref",
    "runs_dir",
    "save_run",
    "saved_steps",
    "split_ref",
]
