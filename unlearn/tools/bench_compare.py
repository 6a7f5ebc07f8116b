"""Time the Compare tab as the app computes it: one saved run, one ~64-token forget item.

What is timed is what a person waits for: both generations, one probe forward per model, every
panel's figure (and its JSON, as Gradio sends it), and the attribution button with its default
method (gradient x input, both models). Feature ablation, the other choice, is timed beside it
(compare_attribution_ablation_seconds) but is not part of the press. Nothing is cached between
repeats; the best of `repeats` is kept, since background load only ever slows a run.

The floor, timed in the same rounds, is the work the button press cannot avoid: one bare batched
greedy `generate` of the same two rows (before and after side by side, the same tokens: greedy on
the same weights stops where the tab's generation stops) and one bare forward of the prompt per
model, without attention maps or hidden states. compare_vs_floor_ratio = (generations + probes +
figures) / floor (issue 19's target: at most 1.3).

The attribution's floor is one bare forward + backward of the same prompt + answer per model
(compare_fwd_bwd_seconds): the model's plain forward with the vocabulary head on the answer's
positions only (the leanest forward the attribution could make), the answer's log-probability,
and one `torch.autograd.grad` to the input embeddings, which is what a per-token gradient needs
(a training-style `loss.backward()` would also compute every weight's gradient, a floor the
attribution never pays). attribution_vs_fwd_bwd_ratio = gradient attribution / that floor, both
models (issue 19's target: at most 1.5).
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
from unlearn.model.forward import accepts
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


def forward_backward(model: torch.nn.Module, ids: torch.Tensor, n_prompt: int) -> None:
    """One plain forward of `ids` (1, T) and one backward of the answer's log-probability to the
    input embeddings. Weights get no `.grad`: only the embeddings' gradient is asked for."""
    with torch.enable_grad():
        emb = model.get_input_embeddings()(ids).detach().requires_grad_()  # (1, T, D)
        # no KV cache, as the attribution's forward: a cache would only add work to the floor
        kwargs: dict[str, Any] = {"use_cache": False} if accepts(model, "use_cache") else {}
        n_answer = ids.shape[1] - n_prompt
        if accepts(model, "logits_to_keep"):  # the head on the answer's positions only, as the attribution
            kwargs["logits_to_keep"] = n_answer + 1
        logits = model(inputs_embeds=emb, **kwargs).logits[0, -n_answer - 1 : -1].float()  # (A, V): predicts the answer
        lp = logits.log_softmax(-1).gather(-1, ids[0, -n_answer:, None]).sum()
        (grad,) = torch.autograd.grad(lp, emb)
    float(grad.sum())  # waits for the device, as the attribution's copy to the CPU does


def fwd_bwd_seconds(lm: LoadedModel, tr: Any, ex: Example) -> float:
    """The attribution's floor: one bare forward + backward of the prompt + answer per model."""
    enc = encode(lm.tokenizer, ex, MAX_TOKENS)
    ids = torch.tensor([enc.input_ids], device=lm.device)
    n_prompt = len(enc.input_ids) - enc.n_answer_tokens
    t0 = time.perf_counter()
    with tr.reference():
        forward_backward(lm.model, ids, n_prompt)
    forward_backward(lm.model, ids, n_prompt)
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
                attribute(lm.model, lm.tokenizer, c.example, "gradient", MAX_TOKENS)
            attribute(lm.model, lm.tokenizer, c.example, "gradient", MAX_TOKENS)
            t3 = time.perf_counter()
            with tr.reference():
                attribute(lm.model, lm.tokenizer, c.example, "ablation", MAX_TOKENS)
            attribute(lm.model, lm.tokenizer, c.example, "ablation", MAX_TOKENS)
            ablation = time.perf_counter() - t3
            floor = floor_seconds(lm, tr, ex, Decoding())
            row = {
                "floor": floor,
                "fwd_bwd": fwd_bwd_seconds(lm, tr, c.example),
                "ablation": ablation,
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
        "compare_attribution_ablation_seconds": best["ablation"],
        "compare_fwd_bwd_seconds": best["fwd_bwd"],
        "attribution_vs_fwd_bwd_ratio": best["attribution"] / best["fwd_bwd"],
        "compare_prompt_tokens": n_tokens,
        "compare_floor_seconds": best["floor"],
        "compare_vs_floor_ratio": best["panels"] / best["floor"],
    }
