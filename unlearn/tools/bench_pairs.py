"""What an imported pair costs (issue 16): `python -m unlearn bench --pairs`.

Three checkpoints are made from the loaded model, as a reviewer would receive them: one matrix
changed (an RMU-style edit), every tensor changed (a full fine-tune), and a LoRA adapter (rank 8 on
every projection). Each is imported and put on the model; the figures are what the pair stores on
disk, what it holds in memory beside the model (counted tensor by tensor: the saved "before"
copies of swapped tensors, or the adapter), the resident memory the process grew by, and the seconds
the import took. The claim under test: a pair costs what differs, not a second model.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, get_peft_model

from unlearn.model.import_pair import import_checkpoint
from unlearn.model.models import LoadedModel
from unlearn.tools.bench_memory import rss_bytes
from unlearn.train.params import LoraTrainable, TensorTrainable, Trainable, plain_state_dict
from unlearn.train.runs import WEIGHTS_FILE, apply_run

ONE_MATRIX = "model.layers.0.mlp.down_proj.weight"
Log = Callable[[str], None]


def _nbytes(tensors: list[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def held_bytes(tr: Trainable) -> int:
    """Memory a pair holds beside the model: the swapped tensors' saved copies, or the adapter."""
    if isinstance(tr, TensorTrainable):
        return _nbytes(tr.saved)
    if isinstance(tr, LoraTrainable):
        return _nbytes(tr.params)
    return 0


def _full_checkpoint(lm: LoadedModel, out: Path, names: set[str] | None) -> None:
    """The model with `names` (None: every tensor) nudged by 1e-3, saved as a reviewer's checkpoint."""
    state = plain_state_dict(lm.model)
    changed = {n: t + 1e-3 for n, t in state.items() if names is None or n in names}
    lm.model.save_pretrained(str(out), state_dict=state | changed)
    lm.tokenizer.save_pretrained(str(out))


def _adapter_checkpoint(lm: LoadedModel, out: Path) -> None:
    """A rank-8 LoRA adapter on every projection with non-zero B (an adapter that changed the model)."""
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(lm.model, LoraConfig(r=8, lora_alpha=16, target_modules=targets))
    with torch.no_grad():
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 1e-3)
    peft_model.save_pretrained(str(out))
    peft_model.unload()  # the base model as it was, wrappers removed


def measure_pair(lm: LoadedModel, checkpoint: Path, runs: Path) -> dict[str, Any]:
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    run = import_checkpoint(lm, checkpoint, root=runs)
    seconds = time.perf_counter() - t0
    tr = apply_run(lm, run)
    gc.collect()
    figures = {
        "import_seconds": round(seconds, 2),
        "stored_bytes": (run / WEIGHTS_FILE).stat().st_size,
        "held_bytes": held_bytes(tr),
        "rss_growth_bytes": max(rss_bytes() - rss0, 0),
    }
    tr.reset()
    return figures


def bench_pairs(lm: LoadedModel, log: Log = print) -> dict[str, Any]:
    """The three pairs' figures, and the model's own size to read them against."""
    model_bytes = _nbytes(list(lm.model.parameters()))
    out: dict[str, Any] = {"model": lm.name, "device": str(lm.device), "model_bytes": model_bytes}
    makers: dict[str, Callable[[Path], None]] = {
        "one_matrix": lambda p: _full_checkpoint(lm, p, {ONE_MATRIX}),
        "every_tensor": lambda p: _full_checkpoint(lm, p, None),
        "lora_adapter": lambda p: _adapter_checkpoint(lm, p),
    }
    with tempfile.TemporaryDirectory(prefix="unlearn-bench-pairs-") as tmp:
        for name, make in makers.items():
            make(Path(tmp) / name)
            f = out[name] = measure_pair(lm, Path(tmp) / name, Path(tmp) / "runs")
            log(
                f"{name}: stored {f['stored_bytes'] / 2**20:,.1f} MiB, held beside the model "
                f"{f['held_bytes'] / 2**20:,.1f} MiB ({f['held_bytes'] / model_bytes:.3f} of the model's "
                f"{model_bytes / 2**20:,.0f} MiB), process grew {f['rss_growth_bytes'] / 2**20:,.0f} MiB, "
                f"import {f['import_seconds']:.1f} s"
            )
    return out
