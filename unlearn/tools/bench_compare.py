"""Time the Compare tab as the app computes it: one saved run, one ~64-token forget item.

What is timed is what a person waits for: both generations, one probe forward per model, every
panel's figure (and its JSON, as Gradio sends it), and the attribution button (feature ablation,
both models). Nothing is cached between repeats; the best of `repeats` is kept, since background
load only ever slows a run.

The floor, timed in the same rounds, is the work the button press cannot avoid: one bare batched
greedy `generate` of the same two rows (before and after side by side, the same tokens: greedy on
the same weights stops where the tab's generation stops) and one bare forward of the prompt per
model, without attention maps or hidden states. compare_vs_floor_ratio = (generations + probes +
figures) / floor (issue 19's target: at most 1.3).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.inspection.attribution import attribute
from unlearn.inspection.compare import MAX_TOKENS, Decoding, compare, generate, generate_pair
from unlearn.model.models import LoadedModel
from unlearn.train.runs import apply_run


def prompt_near(lm: LoadedModel, items: list[Example], tokens: int = 64) -> tuple[Example, int]:
    """The item whose prompt + answer is closest to `tokens` tokens, and its length."""
    sizes = [(abs(len(encode(lm.tokenizer, e).input_ids) - tokens), i) for i, e in enumerate(items) if e.is_qa]
    _, i = min(sizes)
    return items[i], len(encode(lm.tokenizer, items[i]).input_ids)


def floor_seconds(lm: LoadedModel, tr: Any, ex: Example, dec: Decoding) -> float:
    """The bare work of one Compare press: the tab's own batched greedy generation of both rows (no
    streamer), one plain forward of the prompt + answer per model (see the module's docstring)."""
    ids = torch.tensor([encode(lm.tokenizer, ex, MAX_TOKENS).input_ids], device=lm.device)
    t0 = time.perf_counter()
    pair = tr.side_by_side()
    if pair is not None:  # LoRA: both rows in one generate, as the tab does
        with pair:
            generate_pair(lm.model, lm.tokenizer, ex.question, dec)
    else:
        with tr.reference():
            generate(lm.model, lm.tokenizer, ex.question, dec)
        generate(lm.model, lm.tokenizer, ex.question, dec)
    with torch.no_grad():
        with tr.reference():
            lm.model(input_ids=ids)
        lm.model(input_ids=ids)
    return time.perf_counter() - t0


def time_compare(lm: LoadedModel, run_dir: Path, items: list[Example], repeats: int = 3) -> dict[str, Any]:
    from viz import panels  # figures are part of what the tab costs; viz imports no torch

    ex, n_tokens = prompt_near(lm, items)
    tr = apply_run(lm, run_dir)
    best: dict[str, float] | None = None
    try:
        for round_ in range(repeats + 1):  # round 0 warms caches (as the app's first click would) and is dropped
            t0 = time.perf_counter()
            c = compare(
                lm.model, lm.tokenizer, tr.reference, ex, Decoding(), True, "bench", side_by_side=tr.side_by_side
            )
            t1 = time.perf_counter()
            for fig in panels.all_figures(c).values():
                fig.to_json()
            t2 = time.perf_counter()
            with tr.reference():
                attribute(lm.model, lm.tokenizer, c.example, "ablation", MAX_TOKENS)
            attribute(lm.model, lm.tokenizer, c.example, "ablation", MAX_TOKENS)
            t3 = time.perf_counter()
            floor = floor_seconds(lm, tr, ex, Decoding())
            row = {
                "floor": floor,
                "generate": c.seconds["generate"],
                "probe": c.seconds["probe"],
                "figures": t2 - t1,
                "attribution": t3 - t2,
                "panels": t2 - t0,
                "total": t3 - t0,
            }
            if round_ and (best is None or row["total"] < best["total"]):
                best = row
    finally:
        tr.reset()
    assert best is not None
    return {
        "compare_tab_seconds": best["total"],
        "compare_panels_seconds": best["panels"],
        "compare_generate_seconds": best["generate"],
        "compare_probe_seconds": best["probe"],
        "compare_figures_seconds": best["figures"],
        "compare_attribution_seconds": best["attribution"],
        "compare_prompt_tokens": n_tokens,
        "compare_floor_seconds": best["floor"],
        "compare_vs_floor_ratio": best["panels"] / best["floor"],
    }
