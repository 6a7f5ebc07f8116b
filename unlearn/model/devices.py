"""Pick the device and dtype a model runs in."""

from __future__ import annotations

import os

import torch

from unlearn.errors import UserError

DEVICE_ENV = "UNLEARN_DEVICE"
DEVICE_CHOICES = ("auto", "cuda", "mps", "cpu", "split")
SPLIT = "split"  # a model too big for one GPU spread over the GPUs and the CPU (Accelerate's device_map "auto")


def split_refusal(what: str) -> str:
    """Why a model spread over devices is not trained: Accelerate's placement serves inference only here."""
    return (
        f"The model is spread over several devices (device 'split'), which serves Compare and Audit. To {what}, "
        "load it on one device (LoRA with low memory needs the least: the memory estimate says how much)."
    )


def is_split(requested: str | None = None) -> bool:
    return (requested or os.environ.get(DEVICE_ENV) or "").lower() == SPLIT


def resolve_device(requested: str | None = None) -> torch.device:
    """cuda, then mps, then cpu; `requested` (or $UNLEARN_DEVICE) overrides "auto"."""
    name = (requested or os.environ.get(DEVICE_ENV) or "auto").lower()
    if name not in DEVICE_CHOICES and not name.startswith("cuda:"):
        raise UserError(f"unknown device {name!r}; choose one of {', '.join(DEVICE_CHOICES)}")
    if name in ("auto", SPLIT):  # split: the device the model's first layers (and its inputs) go to
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("device 'cuda' was asked for but no CUDA GPU is visible; use 'auto' or 'cpu'")
    if name == "mps" and not torch.backends.mps.is_available():
        raise UserError("device 'mps' was asked for but Apple MPS is not available; use 'auto' or 'cpu'")
    return torch.device(name)


def default_dtype(device: torch.device) -> torch.dtype:
    """bf16 on CUDA (halves memory, full speed on tensor cores); fp32 elsewhere.

    MPS stays in fp32 because several ops used by attention maps and training are not
    implemented for bf16 there on every macOS version.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32
