"""The training loop shared by every method (and by the "teach" step). It knows no method by name.

A caller hands it the parameters to train and either a `loss_fn(batch) -> (loss, logs)` (the
loop calls backward) or a `backward_fn(batch, scale) -> (loss value, logs)` that accumulates its
own gradients (methods that combine forget and retain gradients by a rule, gradients.py). The
loop owns batching, gradient accumulation, warm-up, clipping, autocast on GPU, seeding, the
per-step callback and cancellation between steps.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.settings import declared, setting
from unlearn.train.distributed import DataParallel

MAX_STEPS = 100_000
DEMO_STEPS = 8  # the quick demo's steps: about a minute on 2 CPU cores for the bundled model


@dataclass
class LoopConfig:
    lr: float = setting(1e-4, "Learning rate", "peak AdamW learning rate (default: the method's quick / paper rate)")
    steps: int = setting(
        0, "Steps", "optimizer steps (0: derive them from the epochs)", lo=0, hi=MAX_STEPS, start=DEMO_STEPS
    )
    epochs: float = setting(1.0, "Epochs", "passes over the forget set, used when steps is 0")
    batch_size: int = setting(8, "Batch size", "examples per micro-batch", lo=1, hi=1024)
    grad_accum: int = setting(1, "Gradient accumulation", "micro-batches per optimizer step", lo=1, hi=1024)
    warmup: int = setting(0, "Warm-up steps", "optimizer steps of linear warm-up from 0 to the rate", lo=0)
    weight_decay: float = 0.0  # AdamW decoupled weight decay
    max_grad_norm: float = 1.0  # clip the global gradient norm; 0 = no clipping
    seed: int = setting(0, "Seed", "seeds python, numpy and torch: the same seed, the same run")
    max_length: int = setting(
        256, "Max tokens per item", "tokens per example (the prompt is cut from the left beyond)", lo=8, hi=32768
    )

    def total_steps(self, n_examples: int) -> int:
        if self.steps > 0:
            return self.steps
        per_epoch = math.ceil(n_examples / (self.batch_size * self.grad_accum))
        return max(1, math.ceil(self.epochs * per_epoch))

    def validate(self) -> None:
        """Reject values no run can use, with a message that says what to change (the bounds are the
        declared ones)."""
        d = declared(LoopConfig)

        def span(name: str, unit: str = "") -> str:
            return f"{d[name].lo:g} and {d[name].hi:g}{unit}, got {getattr(self, name)}"

        checks = [
            (
                math.isfinite(self.lr) and self.lr > 0,
                f"learning rate must be a positive number, got {self.lr}",
            ),
            (self.steps >= 0, f"steps must be 0 (use epochs) or more, got {self.steps}"),
            # a run is watched live: 10**12 steps would start a run that never ends
            (self.steps <= MAX_STEPS, f"steps must be at most {MAX_STEPS:,}, got {self.steps}"),
            # torch.manual_seed takes 64 bits; beyond, the run would fail after it started
            (-(2**63) <= self.seed < 2**64, f"seed must fit in 64 bits (say 0 to {2**32 - 1}), got {self.seed}"),
            (math.isfinite(self.epochs) and self.epochs > 0 or self.steps > 0, "epochs must be positive"),
            (d["batch_size"].in_bounds(self.batch_size), f"batch size must be between {span('batch_size')}"),
            (d["grad_accum"].in_bounds(self.grad_accum), f"gradient accumulation must be between {span('grad_accum')}"),
            (d["warmup"].in_bounds(self.warmup), f"warm-up steps must be 0 or more, got {self.warmup}"),
            (d["max_length"].in_bounds(self.max_length), f"max length must be between {span('max_length', ' tokens')}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise UserError(msg)


@dataclass
class StepInfo:
    step: int  # 1-based optimizer step just finished
    total: int
    lr: float
    logs: dict[str, float]  # whatever the loss function reported, averaged over micro-batches
    seconds: float  # since the loop started


@dataclass
class LoopResult:
    steps_done: int
    total_steps: int
    cancelled: bool
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    precision: str = "fp32"  # how the trained tensors were updated (MasterWeights.describe)


LOW_PRECISION = (torch.bfloat16, torch.float16)


class MasterWeights:
    """fp32 master copies of trained tensors that the model holds in bf16 or fp16.

    Why: an AdamW step moves a weight by about the learning rate. bf16 keeps 8 bits of mantissa, so a
    weight of 0.02 is stored to within 6e-5: at the paper learning rate 1e-5 every step rounds back to
    the weight it started from and a full run on a GPU (bf16 by default) silently trains nothing. The
    optimizer therefore steps fp32 copies, and the model's tensors are set to their rounding after each
    step, so small steps add up as they do in fp32. LoRA adapters take the model's dtype, and get copies too.
    """

    def __init__(self, params: Sequence[torch.nn.Parameter]) -> None:
        self.pairs = [(p, p.detach().float().clone()) for p in params if p.dtype in LOW_PRECISION]
        self._of = {id(p): m for p, m in self.pairs}

    def optimised(self, params: Sequence[torch.nn.Parameter]) -> list[torch.Tensor]:
        """What the optimizer steps: the fp32 copy where there is one, else the parameter itself."""
        return [self._of.get(id(p), p) for p in params]

    def grads_in(self) -> None:
        """Move the model's gradients (low precision) to the copies, in fp32."""
        for p, m in self.pairs:
            m.grad = None if p.grad is None else p.grad.float()
            p.grad = None

    def weights_out(self) -> None:
        with torch.no_grad():
            for p, m in self.pairs:
                p.copy_(m)

    def describe(self, params: Sequence[torch.nn.Parameter]) -> str:
        if self.pairs:
            kind = str(self.pairs[0][0].dtype).removeprefix("torch.")
            return f"fp32 master copies of the {kind} trained tensors ({len(self.pairs)} of {len(params)})"
        kinds = sorted({str(p.dtype).removeprefix("torch.") for p in params})
        return "trained in " + ", ".join(kinds)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def cycle_batches(examples: Sequence[Example], batch_size: int, seed: int) -> Iterator[list[Example]]:
    """Endless batches, reshuffled every epoch with a seeded generator (reproducible order)."""
    if not examples:
        raise UserError("no examples to train on: the selected set is empty")
    rng = random.Random(seed)
    while True:
        order = list(range(len(examples)))
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            yield [examples[j] for j in order[i : i + batch_size]]


LossFn = Callable[[Any], tuple[torch.Tensor, dict[str, float]]]
BackwardFn = Callable[[Any, float], tuple[float, dict[str, float]]]


def backward_of(loss_fn: LossFn) -> BackwardFn:
    """The plain case: backward through `loss_fn`'s loss, scaled for gradient accumulation."""

    def backward_fn(batch: Any, scale: float) -> tuple[float, dict[str, float]]:
        loss, logs = loss_fn(batch)
        if torch.isfinite(loss):  # a non-finite loss is reported by the loop before any step
            (loss * scale).backward()
        return float(loss.detach()), logs

    return backward_fn


def train_loop(
    params: Sequence[torch.nn.Parameter],
    loss_fn: LossFn | None,
    batches: Iterator[Any],  # whatever loss_fn takes: a list of examples, a (forget, retain) pair...
    cfg: LoopConfig,
    total_steps: int,
    device: torch.device,
    on_step: Callable[[StepInfo], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    backward_fn: BackwardFn | None = None,
    parallel: DataParallel | None = None,
) -> LoopResult:
    """Run `total_steps` AdamW steps. Cancellation is checked between steps only, so a
    cancelled loop always leaves whole optimizer steps applied, never half of one."""
    cfg.validate()
    if (loss_fn is None) == (backward_fn is None):
        raise ValueError("give train_loop either loss_fn or backward_fn")
    step_fn = backward_fn or backward_of(loss_fn)
    seed_everything(cfg.seed)
    params = [p for p in params if p.requires_grad]
    if not params:
        raise UserError("nothing to train: no parameter requires a gradient")
    masters = MasterWeights(params)
    stepped = masters.optimised(params)
    opt = torch.optim.AdamW(stepped, lr=cfg.lr, weight_decay=cfg.weight_decay)
    # bf16 autocast on CUDA: matmuls in bf16, reductions (losses, softmax) kept in fp32 by torch
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    t0 = time.perf_counter()
    history: list[dict[str, float]] = []
    cancelled = False
    step = 0
    for step in range(1, total_steps + 1):
        if should_stop is not None and should_stop():
            cancelled, step = True, step - 1
            break
        lr = cfg.lr * min(1.0, step / cfg.warmup) if cfg.warmup else cfg.lr
        for g in opt.param_groups:
            g["lr"] = lr
        sums: dict[str, float] = {}
        for _ in range(cfg.grad_accum):
            with autocast:
                loss, logs = step_fn(next(batches), 1.0 / cfg.grad_accum)
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss} at step {step}: lower the learning rate or the number of steps"
                )
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v) / cfg.grad_accum
        if parallel is not None:  # several processes, a share of the batch each: their mean gradient, as DDP
            parallel.average_grads(params)
            sums = parallel.average_logs(sums)
        masters.grads_in()
        if cfg.max_grad_norm > 0:
            sums["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(stepped, cfg.max_grad_norm))
        opt.step()
        opt.zero_grad(set_to_none=True)
        masters.weights_out()
        info = StepInfo(step, total_steps, lr, sums, time.perf_counter() - t0)
        if on_step is not None:
            on_step(info)  # may add measurements to info.logs (live probabilities): keep them
        history.append({"step": step, "lr": lr, "seconds": info.seconds, **info.logs})
    return LoopResult(step, total_steps, cancelled, time.perf_counter() - t0, history, masters.describe(params))
