"""What every bench measurement shares: the sizes of a full and a quick run, the quick demo's sets and
run settings, and torch's thread count for a block."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace

import torch

from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.train.engine import DEMO_STEPS, RunSpec


@dataclass(frozen=True)
class BenchSizes:
    warmup: int = 2  # untimed steps before each timed stretch (allocator, kernels, adapter set-up)
    steps: int = 6  # timed optimizer steps per stretch
    rounds: int = 2  # loop / bare alternations; the best of each is kept, since noise only slows
    matmul_n: int = 2048  # side of the square matrices of the peak measurement
    matmul_seconds: float = 3.0  # how long the peak measurement runs
    demo_steps: int = DEMO_STEPS  # the quick demo's steps (`run --steps` default)
    memory_steps: int = 3  # the optimizer state exists after step 1, so memory peaks early
    max_items: int | None = None  # cap on each set's items (None: the whole built-in sets)
    threads: int | None = None  # torch intra-op threads (None: torch's default, what users get)
    remind_items: int = 10  # forget items whose REMIND neighbourhoods are timed (46 sequences each)


FULL = BenchSizes()
# One thread for the quick run: on a toy model fanning each tiny op out to threads costs more than
# it brings, and on a busy machine an oversubscribed thread pool stalls every op (the tiny-model
# run took 54 s with 2 threads and 18 s with 1 while other jobs used the cores).
QUICK = BenchSizes(1, 2, 1, 256, 0.3, demo_steps=2, memory_steps=1, max_items=16, threads=1, remind_items=2)


@dataclass
class DemoData:
    forget: list[Example]
    retain_train: list[Example]
    retain_eval: list[Example]


def demo_data(max_items: int | None = None) -> DemoData:
    """The `run` defaults: forget harry_potter; train on general_knowledge minus its eval part."""
    forget = load_selection("harry_potter").examples
    retain = load_selection("general_knowledge").examples
    train, held = [e for e in retain if e.split != "eval"], [e for e in retain if e.split == "eval"]
    return DemoData(forget[:max_items], train[:max_items], held[:max_items])


def demo_spec(steps: int, eval_every: int = 1) -> RunSpec:
    """`python -m unlearn run` defaults (npo, quick preset, LoRA r=8, batch 8), with `steps` steps."""
    spec = RunSpec(mode="lora", eval_every=eval_every)
    spec.loop = replace(spec.loop_config(), steps=steps)
    return spec


@contextmanager
def threads(n: int | None) -> Iterator[None]:
    """Use `n` torch intra-op threads inside the block (None: leave them alone)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
