"""An after checkpoint made elsewhere, saved as a run of kind "imported" (issue 16).

The after side may be a `save_pretrained` folder, a hub id, a `.gguf` file or a PEFT LoRA adapter
folder. A full checkpoint is read tensor by tensor (`checkpoint_diff`) and only the tensors that
differ from the loaded model are kept, so the run folder holds what a full-parameter run made here
holds; an adapter is kept as an adapter (`peft_adapter`): adapters off is "before", so no copy of
the base weights is made. Either way the pair is listed, opened, compared, audited, exported and
deleted like a run made here, and survives a restart. Its record says where each side came from and
carries a digest of the stored tensors, so two imports of one checkpoint can be told apart from two
checkpoints.
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
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from unlearn.model.checkpoint_diff import PairError, diff_checkpoint
from unlearn.model.models import (
    BUNDLED,
    LoadedModel,
    ModelLoadError,
    Progress,
    bundled_gguf_path,
    convert_gguf,
    hub_folder,
    parse_source,
)
from unlearn.model.paths import atomic_dir
from unlearn.model.peft_adapter import is_adapter, read_adapter
from unlearn.train.runs import HISTORY_FILE, RUN_FILE, WEIGHTS_FILE, new_run_folder, runs_dir

KIND = "imported"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")


def digest(tensors: dict[str, torch.Tensor]) -> str:
    """SHA-256 over the stored tensors' names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60] or "checkpoint"


def after_folder(ref: str, progress: Progress | None = None) -> tuple[str, Path]:
    """(kind, local folder) of an after checkpoint given as a folder, a hub id (the local hub cache,
    else a download) or a .gguf file (converted once to safetensors, as model loading does)."""
    try:
        source = parse_source(ref)
        if source.kind == BUNDLED:
            return "bundled", convert_gguf(bundled_gguf_path(), "smollm2-135m-instruct", progress)
        if source.kind == "gguf":  # the bundled file under the bundled label: its conversion is cached already
            label = "smollm2-135m-instruct" if Path(source.ref) == bundled_gguf_path().resolve() else "gguf"
            return "gguf", convert_gguf(Path(source.ref), label, progress)
        if source.kind == "hub":
            return "hub", Path(hub_folder(source.ref))
    except ModelLoadError as e:
        raise PairError(str(e)) from e
    return "folder", Path(source.ref)


def check_vocabulary(tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """Refuse a checkpoint whose tokenizer maps text to other ids (where it ships one): every probe
    would then compare different tokens under one name."""
    if not any((folder / f).is_file() for f in TOKENIZER_FILES):
        return
    try:
        theirs = AutoTokenizer.from_pretrained(str(folder)).get_vocab()
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise PairError(f"the tokenizer in {folder} could not be read ({type(e).__name__}: {str(e)[:200]}).") from e
    ours = tokenizer.get_vocab()
    if theirs != ours:
        moved = sum(1 for t, i in theirs.items() if ours.get(t) != i) + len(set(ours) - set(theirs))
        raise PairError(
            f"the tokenizer in {folder} is not the loaded model's: {len(theirs):,} tokens there, {len(ours):,} here, "
            f"{moved:,} mapped differently. Load the model the checkpoint was unlearned from."
        )


def _full(lm: LoadedModel, folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    diff = diff_checkpoint(lm.model, folder)
    if not diff.changed:
        raise PairError(f"{folder} equals the loaded model tensor for tensor: there is nothing to compare.")
    facts = {"changed_tensors": len(diff.changed), "compared_tensors": diff.total, "summary": diff.summary()}
    return diff.changed, {"method": KIND, "mode": "full"}, facts


def _adapter(lm: LoadedModel, folder: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    config, tensors = read_adapter(lm.model, folder)
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    targets = config.get("target_modules")
    targets = ", ".join(sorted(targets)) if isinstance(targets, list) else str(targets)
    summary = (
        f"a LoRA adapter of rank {config.get('r')} on {targets}: {len(tensors)} tensors ({size / 2**20:,.2f} MiB "
        "kept); the base weights are not copied (adapters off = before)"
    )
    spec = {"method": KIND, "mode": "lora", "lora_r": config.get("r"), "adapter_config": config}
    return tensors, spec, {"changed_tensors": len(tensors), "compared_tensors": None, "summary": summary}


def import_checkpoint(
    lm: LoadedModel,
    after: str | Path,
    name: str | None = None,
    root: Path | None = None,
    progress: Progress | None = None,
) -> Path:
    """Pair `after` (see `after_folder`; a PEFT adapter folder too) with the loaded model `lm` (before)
    and save the pair as a run; returns its folder. Raises PairError (a ValueError) saying what differs
    when the two are not one model. `lm` must carry no run of its own (clear it first)."""
    kind, folder = after_folder(str(after), progress)
    check_vocabulary(lm.tokenizer, folder)
    return save_pair(lm, str(after), kind, folder, name, root)


def save_pair(lm: LoadedModel, after: str, kind: str, folder: Path, name: str | None, root: Path | None) -> Path:
    """`import_checkpoint` once `after` is resolved to a local `folder` (and its vocabulary checked)."""
    if is_adapter(folder):
        kind = "peft" if kind == "folder" else f"{kind} peft"
        tensors, spec, facts = _adapter(lm, folder)
    else:
        tensors, spec, facts = _full(lm, folder)
    label = name or (after if kind.startswith("hub") else Path(after).name)
    root = root or runs_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = new_run_folder(root, f"{KIND}-{_slug(label)}")
    record: dict[str, Any] = {
        "id": final.name,
        "kind": KIND,
        "method": KIND,
        "status": "finished",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "model": {"name": lm.name, "ref": lm.source.ref, "kind": lm.source.kind, "taught": lm.taught or None},
        "after": {
            "source": after if kind.startswith("hub") else str(Path(after).resolve()),
            "kind": kind,
            "name": label,
            "digest": digest(tensors),
            "changed_bytes": sum(t.numel() * t.element_size() for t in tensors.values()),
            **facts,
        },
        "sets": {"forget": "", "retain": ""},
        "spec": spec,
        "hparams": {},
        "trainable": spec["mode"],
        "steps": 0,
        "seconds": 0.0,
        "metrics": {},
        "checkpoints": [],
        "stop": None,
    }
    with atomic_dir(final) as tmp:
        save_file({n: t.contiguous() for n, t in tensors.items()}, str(tmp / WEIGHTS_FILE))
        (tmp / HISTORY_FILE).write_text("")
        (tmp / RUN_FILE).write_text(json.dumps(record, indent=1))
    return final
