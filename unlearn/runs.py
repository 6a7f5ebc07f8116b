"""Run store: one folder per run with its config, per-step history, metrics and changed weights.

Written atomically (a temporary folder renamed into place), so a crash never leaves a run that
looks complete. Layout of a run folder:

    run.json            method, spec, hyperparameters, metrics, status, timestamps
    history.jsonl       one line per optimizer step (losses, lr, live probabilities)
    weights.safetensors the weights the run changed (LoRA adapters or trained tensors)
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .engine import RunOutcome
from .models import LoadedModel
from .params import ADAPTER, LoraTrainable, TensorTrainable, Trainable
from .paths import atomic_dir, cache_dir

RUNS_ENV = "UNLEARN_RUNS_DIR"
RUN_FILE, HISTORY_FILE, WEIGHTS_FILE = "run.json", "history.jsonl", "weights.safetensors"


def runs_dir() -> Path:
    """$UNLEARN_RUNS_DIR, else `runs/` inside the cache folder."""
    path = Path(os.environ.get(RUNS_ENV) or cache_dir() / "runs").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_run(out: RunOutcome, lm: LoadedModel, sets: dict[str, str], root: Path | None = None) -> Path:
    """Write a finished (or cancelled) run; returns its folder."""
    root = root or runs_dir()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    final = root / f"{stamp}-{out.spec['method']}"
    k = 2
    while final.exists():
        final, k = root / f"{stamp}-{out.spec['method']}-{k}", k + 1
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
    }
    with atomic_dir(final) as tmp:
        save_file(out.trainable.changed(), str(tmp / WEIGHTS_FILE))
        (tmp / HISTORY_FILE).write_text("".join(json.dumps(h) + "\n" for h in out.history))
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1))
    return final


def list_runs(root: Path | None = None) -> list[dict[str, Any]]:
    """Every complete run, newest first (half-written temporary folders are skipped)."""
    root = root or runs_dir()
    out = []
    for d in sorted(root.iterdir(), reverse=True) if root.is_dir() else []:
        f = d / RUN_FILE
        if d.name.startswith(".") or not f.is_file():
            continue
        try:
            out.append({**json.loads(f.read_text()), "dir": str(d)})
        except (json.JSONDecodeError, OSError):
            continue  # a damaged run is skipped, not fatal
    return out


def read_history(run_dir: Path) -> list[dict[str, float]]:
    lines = (Path(run_dir) / HISTORY_FILE).read_text().splitlines()
    return [json.loads(x) for x in lines if x.strip()]


def apply_run(lm: LoadedModel, run_dir: Path) -> Trainable:
    """Put a saved run's weights onto `lm` (which must be the run's base model): the model is then
    "after", and the returned trainable gives "before" and reset, as right after the run."""
    run_dir = Path(run_dir)
    record = json.loads((run_dir / RUN_FILE).read_text())
    weights = load_file(str(run_dir / WEIGHTS_FILE), device=str(lm.device))
    spec = record["spec"]
    if record["trainable"] == "lora":
        tr: Trainable = LoraTrainable(lm.model, r=spec["lora_r"], alpha=2 * spec["lora_r"])
    else:
        tr = TensorTrainable(lm.model, "|".join(map(re.escape, weights)))
    params = dict(lm.model.named_parameters())
    missing = [n for n in weights if n not in params]
    if missing:
        tr.reset()
        raise ValueError(
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
    run_dir = Path(run_dir).resolve()
    if run_dir.parent != root or not (run_dir / RUN_FILE).is_file():
        raise ValueError(f"{run_dir} is not a run in {root}")
    shutil.rmtree(run_dir)


__all__ = ["ADAPTER", "apply_run", "delete_run", "list_runs", "read_history", "runs_dir", "save_run"]
