"""What a run needs in memory, estimated before anything is allocated (issue 17).

A run that cannot fit fails minutes in, on a GPU often after the "before" copies and the optimizer
state were made. The estimate adds what a run holds: the saved "before" copies of a full or subset
run, fp32 master copies where the model is bf16, AdamW's two fp32 moments and a gradient per trained
element, the activations kept for backward (forget and retain batches, every layer; with low
memory only each layer's input and one layer's activations) and the losses' vocabulary-wide rows
over the answer window. If the device's free memory cannot hold
it, the run is refused before it starts, with the figures and the settings that would fit (LoRA, low
memory, a smaller batch). It is an estimate: allocator fragmentation and library buffers come on top.

>>> human(3 * 2**30)
'3.0 GiB'
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path

import torch
from transformers import PreTrainedModel

from unlearn.train.loop import LOW_PRECISION
from unlearn.train.params import LORA_TARGETS, selected_tensors

FP32 = 4
# Values a decoder layer keeps per token for backward, per hidden-sized and per MLP-sized width. Set
# from the bundled model's measured training peak (README, Benchmark: 2.7 GiB at batch 8 x ~60 tokens,
# 30 layers, of which ~2.2 GiB activations = ~19k values per token and layer; 16 x 576 + 6 x 1536 = 18.4k).
HIDDEN_VALUES, MLP_VALUES = 16, 6


NOTHING_FITS = "no setting here fits: use a smaller model or a device with more memory"


class RunTooBig(ValueError):
    """A run the device cannot hold; the message gives the figures and what would fit."""


def out_of_memory(device: torch.device, shape: RunShape) -> RunTooBig:
    """The message for an out-of-memory error during a run (the estimate said it would fit)."""
    if device.type == "cuda":
        torch.cuda.empty_cache()  # what the failed step held, back to the device for the next try
    options = " or ".join(alternatives(shape)) or NOTHING_FITS
    return RunTooBig(
        f"The run ran out of memory on {device}; the model is as it was before it. Try {options} "
        "(other sessions' work on the same GPU counts too)."
    )


def human(n: float) -> str:
    return f"{n / 2**30:,.1f} GiB"


@dataclass(frozen=True)
class RunShape:
    """The settings of a run that decide its memory."""

    mode: str  # lora | full | subset
    pattern: str | None  # the subset's tensors
    lora_r: int
    targets: list[str] | None  # LoRA target modules (None: every projection)
    batch_size: int
    tokens: int  # the longest item, at most the run's max length
    low_memory: bool
    answer: int | None = None  # tokens of the answer window the losses read (None: all `tokens`)
    shards: int = 1  # processes the trained copies, gradients and optimizer state are split over (sharding.py)


@dataclass
class RunMemory:
    """Bytes a run holds beside the model's own weights, by what holds them."""

    before: int  # saved copies of the trained tensors (full / subset)
    trained: int  # LoRA adapters (fp32), or fp32 master copies of bf16 trained tensors
    optimizer: int  # AdamW: two fp32 moments per trained element
    grads: int  # a gradient per trained element
    activations: int  # kept for backward
    logits: int = 0  # the losses' vocabulary-wide rows over the answer window

    @property
    def total(self) -> int:
        return sum(getattr(self, f.name) for f in fields(self))

    def breakdown(self) -> str:
        return ", ".join(f"{f.name} {human(getattr(self, f.name))}" for f in fields(self) if getattr(self, f.name))


def trained_elements(model: PreTrainedModel, shape: RunShape) -> int:
    """Elements a run trains, counted from the model's shapes (nothing is created)."""
    if shape.mode == "lora":
        names = shape.targets or LORA_TARGETS
        return sum(
            shape.lora_r * (m.in_features + m.out_features)
            for n, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and n.rsplit(".", 1)[-1] in names
        )
    pattern = (shape.pattern or r".*") if shape.mode == "subset" else r".*"
    return sum(p.numel() for _, p in selected_tensors(model, pattern))


def estimate_run(model: PreTrainedModel, shape: RunShape) -> RunMemory:
    """What a run of `shape` holds at its peak beside the weights (see the module docstring)."""
    p0 = next(model.parameters())
    size, n = p0.element_size(), trained_elements(model, shape)
    cfg = model.config
    hidden, layers = cfg.hidden_size, cfg.num_hidden_layers
    per_layer = (HIDDEN_VALUES * hidden + MLP_VALUES * getattr(cfg, "intermediate_size", 4 * hidden)) * size
    tokens = 2 * shape.batch_size * shape.tokens  # a forget and a retain batch
    if shape.low_memory:  # each layer's input, and one layer recomputed at a time
        kept = tokens * (hidden * size * layers + per_layer)
    else:
        kept = tokens * per_layer * layers
    # the losses' log-softmax rows (fp32) of the forget and retain batches wait for backward; while the
    # later one is made, the head's output (model dtype) and its fp32 copy exist too (losses.shift).
    # Recomputing the layers does not cover the head. With Llama-3's 128k vocabulary this is GiBs.
    rows = shape.batch_size * (shape.answer or shape.tokens) * cfg.vocab_size
    logits = rows * (2 * FP32 + size + FP32)
    n = -(-n // shape.shards)  # this process's shard of the trained elements
    if shape.mode == "lora":
        return RunMemory(0, n * FP32, 2 * n * FP32, n * FP32, kept, logits)
    masters = n * FP32 if p0.dtype in LOW_PRECISION else 0
    return RunMemory(n * size, masters, 2 * n * FP32, n * (FP32 if masters else size), kept, logits)


def free_bytes(device: torch.device) -> int | None:
    """Memory free on `device` now: CUDA's free memory, the system's available memory for the CPU
    (Linux), None where unknown (then nothing is refused)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type == "cpu":
        try:
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            return None
    return None


def alternatives(shape: RunShape) -> dict[str, RunShape]:
    """The settings worth proposing instead: LoRA, low memory, half the batch."""
    out: dict[str, RunShape] = {}
    if shape.mode != "lora":
        out["LoRA adapters"] = replace(shape, mode="lora")
    if not shape.low_memory:
        out["low memory (recompute activations)"] = replace(shape, low_memory=True)
    if shape.batch_size > 1:
        out[f"a batch of {shape.batch_size // 2}"] = replace(shape, batch_size=shape.batch_size // 2)
    return out


def check_run_fits(model: PreTrainedModel, shape: RunShape, device: torch.device, free: int | None = None) -> RunMemory:
    """The estimate; raises RunTooBig naming the settings that would fit when `free` (default: what
    the device has free now) cannot hold it."""
    plan = estimate_run(model, shape)
    free = free_bytes(device) if free is None else free
    if free is None or plan.total <= free:
        return plan
    fits = [
        f"{what} (about {human(p.total)})"
        for what, alt in alternatives(shape).items()
        if (p := estimate_run(model, alt)).total <= free
    ]
    fix = "try " + " or ".join(fits) if fits else NOTHING_FITS
    raise RunTooBig(
        f"This run needs about {human(plan.total)} beside the model's weights on {device} ({plan.breakdown()}), "
        f"but {human(free)} are free: {fix}. Nothing was changed."
    )
