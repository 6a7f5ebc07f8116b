"""REMIND throughput against a bare batched forward over the same neighbour sequences.

Both sides score the same (1 + J·K) sequences per item in batches of `cfg.batch_size`; the bare side
is `model(input_ids=...)` alone, REMIND's side is `landscape()` (neighbourhoods built, answer
losses taken from the answer window). The ratio is REMIND's sequences/s over the bare ones: what the
landscape code adds (or saves, with the head over the answer window only) on top of the model.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from unlearn.audit.remind import RemindConfig, landscape, neighbourhoods
from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel


@torch.inference_mode()
def _bare(lm: LoadedModel, rows: list[torch.Tensor], batch_size: int) -> None:
    for stack in rows:
        for i in range(0, len(stack), batch_size):
            lm.model(input_ids=stack[i : i + batch_size])


def time_remind(lm: LoadedModel, items: list[Example], cfg: RemindConfig | None = None) -> dict[str, Any]:
    cfg = cfg or RemindConfig()
    hoods = neighbourhoods(lm.model, lm.tokenizer, items, cfg)
    rows = [torch.tensor(h.rows, device=lm.device) for h in hoods]
    n = sum(len(r) for r in rows)
    _bare(lm, rows[:1], cfg.batch_size)  # warm-up
    t0 = time.perf_counter()
    _bare(lm, rows, cfg.batch_size)
    bare = time.perf_counter() - t0
    t0 = time.perf_counter()
    landscape(lm.model, lm.tokenizer, items, cfg)
    remind = time.perf_counter() - t0
    return {
        "remind_vs_bare_ratio": bare / remind,
        "remind_sequences_per_s": n / remind,
        "bare_sequences_per_s": n / bare,
        "remind_sequences": n,
        "remind_items": len(items),
    }
