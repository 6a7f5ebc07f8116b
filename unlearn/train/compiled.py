"""Compiled decoder layers for training on a GPU (issue 17), switched on for a block only.

Why: on a GPU the matmuls of a 1B model's step take well under half its time; the rest is
element-wise work that eager PyTorch runs as one kernel each, reading and writing the whole
activation every time: the RMS norms (in fp32), rotary embeddings, SwiGLU, residual adds and LoRA's
scale-and-add on every projection's output. `torch.compile` fuses those into few kernels.

Regional compilation: each decoder layer is compiled, not the whole model. The layers share one code
path, so PyTorch compiles one graph for all of them (parameters are graph inputs), which takes tens of
seconds instead of minutes, and the head, the losses and the adapters' on/off switch stay eager. The
sequence length is marked dynamic so that batches of other lengths do not recompile.

The model is left as it was on leaving the block: the layers' compiled calls are dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from transformers import PreTrainedModel

from unlearn.errors import UserError


def decoder_layers(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The repeated blocks of the model: the modules of the classes it names as never to be split
    across devices (`_no_split_modules`, what Accelerate and FSDP wrap too)."""
    names = set(getattr(model, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


@contextmanager
def compiled_layers(model: PreTrainedModel, enabled: bool = True, backend: str = "inductor") -> Iterator[None]:
    """Within the block each decoder layer runs compiled (`backend`: "inductor" fuses kernels; "eager"
    only traces, for tests)."""
    layers = decoder_layers(model) if enabled else []
    if enabled and not layers:
        raise UserError(f"{type(model).__name__} names no decoder layer class to compile: turn compiling off")
    for layer in layers:
        layer.compile(backend=backend, dynamic=True)
    try:
        yield
    finally:
        for layer in layers:
            layer._compiled_call_impl = None  # what nn.Module.compile set: back to the eager call
        if layers:
            # the graphs are cached on the layers' shared code: left there, the next block's variants
            # would count against PyTorch's recompile limit and quietly run eager beyond it
            torch._dynamo.reset()
