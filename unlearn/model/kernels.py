"""Which attention kernel a model computes with, switched per call (issue 17).

Models load with a fused kernel (SDPA, or FlashAttention-2 on a CUDA GPU where the package is
installed): training, generation, scoring and REMIND run on it, with attention memory linear in the
length instead of quadratic. Only the places that read attention maps (the Compare probe, attention
shifting) switch the model to eager attention for their forward, in `eager_attention`, since a fused
kernel never forms the probability matrix. The switch is a flag on the model's config: no weights move.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel

EAGER, SDPA, FLASH = "eager", "sdpa", "flash_attention_2"


def fast_kernel(device: torch.device, dtype: torch.dtype) -> str:
    """FlashAttention-2 on CUDA in bf16/fp16 when the flash_attn package is installed, else SDPA."""
    flash = importlib.util.find_spec("flash_attn") is not None
    if device.type == "cuda" and dtype in (torch.bfloat16, torch.float16) and flash:
        return FLASH
    return SDPA


def kernel_of(model: PreTrainedModel) -> str:
    return str(getattr(model.config, "_attn_implementation", EAGER) or EAGER)


@contextmanager
def eager_attention(model: PreTrainedModel) -> Iterator[None]:
    """Within the block the model computes attention eagerly and can return its maps; then it is back
    on the kernel it had."""
    was = kernel_of(model)
    if was != EAGER:
        model.set_attn_implementation(EAGER)
    try:
        yield
    finally:
        if was != EAGER:
            model.set_attn_implementation(was)
