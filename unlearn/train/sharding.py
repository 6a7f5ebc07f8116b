"""One run with the model sharded over the processes (issue 17): PyTorch's FSDP2 (`fully_shard`).

With data parallelism (distributed.py) every process holds the whole model, its trained copies and
their optimizer state. Sharded, each decoder layer's parameters, gradients and AdamW moments are split
over the processes (ZeRO stage 3's partitioning): a layer's weights are gathered for its forward and
backward and dropped again, and the gradients are reduce-scattered, each process keeping the mean of
its own shard. The optimizer steps the shards. The arithmetic is DistributedDataParallel's, so a sharded
run trains as one process does with the same global batch (tests/test_distributed.py).

Chosen by `run --shard` under torchrun, or by an Accelerate config with `distributed_type: FSDP`
(`assets/accelerate/fsdp.yaml`; Accelerate sets ACCELERATE_USE_FSDP for the processes). The model is
loaded whole by each process and sharded before training, so each GPU must hold the bf16 weights once;
the trained copies, gradients and optimizer state are what sharding divides.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

import torch
from transformers import PreTrainedModel

from unlearn.errors import UserError
from unlearn.train.compiled import decoder_layers
from unlearn.train.params import Trainable


def shard_model(model: PreTrainedModel, size: int) -> None:
    """Each decoder layer a unit of its own (gathered one at a time), the rest (embeddings, final norm,
    head) the root unit."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    device = next(model.parameters()).device
    mesh = init_device_mesh(device.type, (size,))
    layers = decoder_layers(model)
    if not layers:
        raise UserError(f"{type(model).__name__} names no decoder layer class to shard: run without --shard")
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _full(p: torch.Tensor) -> torch.Tensor:
    """The whole tensor on the CPU, gathered from every process (each must call this in the same order)."""
    t = p.detach()
    t = t.full_tensor() if hasattr(t, "full_tensor") else t
    return t.to("cpu", copy=True)


class ShardedTrainable(Trainable):
    """The trained parameters of a sharded model: another Trainable's choice, after `fully_shard`
    replaced the model's parameters by sharded ones."""

    def __init__(self, inner: Trainable, size: int) -> None:
        super().__init__(inner.model)
        self.inner, self.kind = inner, inner.kind
        shard_model(inner.model, size)
        # fully_shard made new Parameter objects: the trained ones are those that still ask for gradients
        self.names = [n for n, p in inner.model.named_parameters() if p.requires_grad]
        self.params = [p for p in inner.model.parameters() if p.requires_grad]
        # LoRA's "before" is its adapters switched off; a tensor run's is a sharded copy of each shard
        self.saved = [p.detach().clone() for p in self.params] if inner.kind == "tensors" else None
        self._final: dict[str, torch.Tensor] | None = None

    @contextmanager
    def reference(self) -> Iterator[None]:
        if self.saved is None:
            with self.inner.reference():
                yield
            return
        # values, not storage: FSDP gathers from the shards it holds, so a swapped `.data` would be ignored
        with torch.no_grad():
            after = [p.detach().clone() for p in self.params]
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(s)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, a in zip(self.params, after, strict=True):
                    p.copy_(a)

    def reset(self) -> None:
        if self.saved is None:
            self.inner.reset()
            return
        with torch.no_grad():
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(s)
                p.requires_grad_(False)

    def gather(self) -> None:
        """Every process gathers the trained tensors once after the run, so that `changed()` needs no
        collective and the main process alone can save the run."""
        self._final = {n: _full(p) for n, p in zip(self.names, self.params, strict=True)}

    def changed(self) -> dict[str, torch.Tensor]:
        if self._final is not None:
            return {n: t.clone() for n, t in self._final.items()}
        return {n: _full(p) for n, p in zip(self.names, self.params, strict=True)}  # on every process at once

    def side_by_side(self) -> AbstractContextManager[None] | None:
        return None
