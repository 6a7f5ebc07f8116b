"""One run on several processes (GPUs, or CPU processes with gloo), launched by an existing engine.

`torchrun --nproc-per-node N -m unlearn run ...` or `accelerate launch -m unlearn run ...` starts N
copies of the command. Accelerate's `PartialState` reads the launcher's environment and sets up the
process group (NCCL on GPUs, gloo on the CPU); each process then holds the model and takes its share
of every global batch (`shard`), and after the backward passes of a step the gradients of the trained
parameters are averaged over the processes (`average_grads`) before the one optimizer step each makes.
With the same seed everywhere the weights stay identical on every process: the arithmetic of PyTorch's
DistributedDataParallel, which needs no wrapping of the model (the methods call the model directly,
often several times per step, with hooks of their own). Only the main process writes the run folder.

Sharded (`run --shard`, or an Accelerate config with FSDP): the model's parameters, gradients and
optimizer state are split over the processes by PyTorch's FSDP2 (sharding.py); then `average_grads` has
nothing to do, FSDP's reduce-scatter averages them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import torch

from unlearn.errors import UserError

T = TypeVar("T")
LAUNCHED = "WORLD_SIZE"  # set by torchrun and accelerate launch


def launched() -> bool:
    return int(os.environ.get(LAUNCHED, "1")) > 1


@dataclass(frozen=True)
class DataParallel:
    rank: int
    size: int
    sharded: bool = False  # the model split over the processes (sharding.py), not copied to each

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, items: Sequence[T] | None) -> list[T] | None:
        """This process's share of a global batch (every size-th item from its rank)."""
        return None if items is None else list(items[self.rank :: self.size])

    def check_batch(self, batch_size: int) -> None:
        if batch_size % self.size:
            raise UserError(
                f"the batch size ({batch_size}) must be a multiple of the number of processes ({self.size}): "
                "each process takes an equal share of every batch"
            )

    def average_grads(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Every process's gradients replaced by their mean over the processes, in place (a flat copy of
        all of them would cost a full run's gradients once more). Sharded, FSDP has averaged them."""
        if self.sharded:
            return
        for p in params:
            if p.grad is not None:
                torch.distributed.all_reduce(p.grad)
                p.grad /= self.size

    def average_logs(self, logs: dict[str, float]) -> dict[str, float]:
        """The step's logged values averaged over the processes (the same keys on every process)."""
        if not logs:
            return logs
        keys = sorted(logs)
        values = torch.tensor([float(logs[k]) for k in keys], dtype=torch.float64)
        torch.distributed.all_reduce(values)
        return {k: float(v) / self.size for k, v in zip(keys, values, strict=True)}


FSDP_SET = "ACCELERATE_USE_FSDP"  # what `accelerate launch` sets from a config with distributed_type: FSDP
DEEPSPEED_SET = "ACCELERATE_USE_DEEPSPEED"  # ... and with distributed_type: DEEPSPEED


def wants_shard(shard: bool) -> bool:
    """Whether to shard the model: asked for (`run --shard`), or the Accelerate config says FSDP. A
    DeepSpeed config is refused: the loop does not hand its optimizer to DeepSpeed's engine, and
    FSDP's full sharding is ZeRO stage 3's partitioning."""
    if os.environ.get(DEEPSPEED_SET, "").lower() in ("1", "true"):
        raise UserError(
            "DeepSpeed is not used by this app: for ZeRO-3's sharding launch with assets/accelerate/fsdp.yaml "
            "(FSDP2 splits parameters, gradients and optimizer state the same way), or torchrun ... run --shard"
        )
    return shard or os.environ.get(FSDP_SET, "").lower() in ("1", "true")


def data_parallel(shard: bool = False) -> DataParallel | None:
    """The process group a launcher set up (initialised here through Accelerate), or None for one process.
    Sharded when asked (`run --shard`) or when the Accelerate config says FSDP."""
    shard = wants_shard(shard)
    if not launched():
        if shard:
            raise UserError(
                "--shard splits the model over the processes of a launched run: start it with "
                "torchrun --nproc-per-node N or accelerate launch"
            )
        return None
    from accelerate import PartialState

    state = PartialState(cpu=not torch.cuda.is_available())
    return DataParallel(state.process_index, state.num_processes, shard)


def local_device() -> str | None:
    """This process's GPU under a launcher (`cuda:LOCAL_RANK`), None to choose as usual."""
    if launched() and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return None


def describe(parallel: DataParallel | None, batch_size: int, grad_accum: int) -> dict[str, Any]:
    """What run.json records: the processes and the effective (global) batch of one optimizer step."""
    return {
        "world_size": parallel.size if parallel else 1,
        "global_batch": batch_size * grad_accum,
        "sharded": bool(parallel and parallel.sharded),
    }
