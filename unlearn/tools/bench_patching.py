"""Time activation patching of one item (issue 20): `patching_seconds` for the forget item nearest 64
tokens (prompt + answer) of the bench's saved demo run, every layer's residual stream, attention and
MLP output at the question, answer and all tokens, both directions, plus each layer's attention + MLP
and the best layers cumulated: 2·(3·3·L) + 2·L patched rows, L the decoder layers.

Beside it, `patching_vs_forward_ratio` = that time / (rows × one unpatched forward of the item, timed
in the same process, batched as the patching batches its rows): what the hooks and the skipped layers
(rows start at their lowest patched layer, patching.py) make of the plain work.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.inspection.patching import COMPONENTS, GROUPS, decoder_layers, patch_item
from unlearn.model.models import LoadedModel
from unlearn.tools.bench_compare import prompt_near
from unlearn.train.runs import apply_run

ROWS = 64  # patch_item's rows per forward


def _forward_row_seconds(lm: LoadedModel, ex: Example, rows: int) -> float:
    """Seconds per row of an unpatched batched forward of the item (`rows` rows at once)."""
    ids = torch.tensor([encode(lm.tokenizer, ex).input_ids], device=lm.device).expand(rows, -1)
    with torch.no_grad():
        lm.model(input_ids=ids)  # warm
        t0 = time.perf_counter()
        lm.model(input_ids=ids)
    return (time.perf_counter() - t0) / rows


def time_patching(lm: LoadedModel, run_dir: Path, items: list[Example], tokens: int = 64) -> dict[str, Any]:
    ex, n_tokens = prompt_near(lm, items, tokens)
    n_rows = 2 * len(COMPONENTS) * len(GROUPS) * len(decoder_layers(lm.model)) + 2 * len(decoder_layers(lm.model))
    tr = apply_run(lm, run_dir)
    try:
        per_row = _forward_row_seconds(lm, ex, ROWS)
        t0 = time.perf_counter()
        patch_item(lm.model, lm.tokenizer, ex, tr.reference, max_rows=ROWS)
        seconds = time.perf_counter() - t0
    finally:
        tr.reset()
    return {
        "patching_seconds": seconds,
        "patching_tokens": n_tokens,
        "patching_rows": n_rows,
        "patching_vs_forward_ratio": seconds / (n_rows * per_row),
    }
