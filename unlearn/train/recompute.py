"""Low-memory training: keep only each layer's input and recompute the rest during backward.

A step's activations grow with batch x tokens x layers and, for a small model, outweigh the
model itself several times (the bench reports by how much). Gradient checkpointing trades about
one extra forward pass per trained pass for most of that memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from transformers import PreTrainedModel

from unlearn.errors import UserError


@contextmanager
def recompute_activations(model: PreTrainedModel, enabled: bool = True) -> Iterator[None]:
    """Gradient checkpointing inside the block; the model comes back as it was (checkpointing off,
    its train/eval flag restored), even if the block fails."""
    if not enabled:
        yield
        return
    if not getattr(model, "supports_gradient_checkpointing", False):
        raise UserError(f"{type(model).__name__} does not support low-memory training: turn the option off")
    # non-reentrant checkpoints work with frozen embeddings (LoRA); transformers still hooks the
    # embeddings to require gradients, which `finally` removes again
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    # HF layers checkpoint only when `training`: set the flag on those layers alone (not .train(),
    # which would also wake dropout inside them and change what the losses compute)
    layers = [m for m in model.modules() if getattr(m, "gradient_checkpointing", False)]
    flags = [m.training for m in layers]
    for m in layers:
        m.training = True
    try:
        yield
    finally:
        for m, flag in zip(layers, flags, strict=True):
            m.training = flag
        model.activation_checkpointing_disable()
        model.disable_input_require_grads()
