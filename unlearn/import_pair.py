"""An after checkpoint made elsewhere, saved as a run of kind "imported" (issue 16, step 2).

The run folder holds what any full-parameter run holds (`weights.safetensors`: the tensors that
differ from the loaded model, read by `checkpoint_diff`), so it is listed, opened, compared, audited
and deleted like a run made here, and survives a restart. Its record says where each side came from
and carries a digest of the changed tensors, so two imports of one checkpoint can be told apart from
two checkpoints.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from .checkpoint_diff import CheckpointDiff, diff_checkpoint
from .models import LoadedModel
from .paths import atomic_dir
from .runs import HISTORY_FILE, RUN_FILE, WEIGHTS_FILE, new_run_folder, runs_dir

KIND = "imported"


def digest(diff: CheckpointDiff) -> str:
    """SHA-256 over the changed tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(diff.changed):
        t = diff.changed[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "checkpoint"


def import_checkpoint(lm: LoadedModel, after: Path, name: str | None = None, root: Path | None = None) -> Path:
    """Pair the folder `after` with the loaded model `lm` (before) and save the pair as a run; returns
    its folder. Raises PairError (a ValueError) with what differs when the two are not one model."""
    after = Path(after)
    diff = diff_checkpoint(lm.model, after)
    if not diff.changed:
        raise ValueError(f"{after} equals the loaded model tensor for tensor: there is nothing to compare.")
    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = new_run_folder(root, f"{KIND}-{_slug(name or after.name)}")
    record: dict[str, Any] = {
        "id": final.name,
        "kind": KIND,
        "method": KIND,
        "status": "finished",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": {"name": lm.name, "ref": lm.source.ref, "kind": lm.source.kind, "taught": lm.taught or None},
        "after": {
            "source": str(after.resolve()),
            "name": name or after.name,
            "digest": digest(diff),
            "changed_tensors": len(diff.changed),
            "compared_tensors": diff.total,
            "changed_bytes": diff.bytes,
            "summary": diff.summary(),
        },
        "sets": {"forget": "", "retain": ""},
        "spec": {"method": KIND, "mode": "full"},
        "hparams": {},
        "trainable": "full",
        "steps": 0,
        "seconds": 0.0,
        "metrics": {},
        "checkpoints": [],
        "stop": None,
    }
    with atomic_dir(final) as tmp:
        save_file({n: t.contiguous() for n, t in diff.changed.items()}, str(tmp / WEIGHTS_FILE))
        (tmp / HISTORY_FILE).write_text("")
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1))
    return final
