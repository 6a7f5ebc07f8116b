"""`bench --gpu` (issue 17): the benchmark models' shapes, the FLOP count of a full step, and the
bench's own code run on a small shape on the CPU, refusals and out-of-memory errors included."""

from __future__ import annotations

from types import SimpleNamespace

import torch

from tests.conftest import weights_digest
from unlearn.tools import bench_gpu
from unlearn.tools.bench_gpu import Workload, random_model, time_npo, token_batch
from unlearn.tools.bench_gpu import bench_gpu as run
from unlearn.tools.flops import step_flops

LOAD = Workload(
    batch=2, tokens=32, answer=16, warmup=1, steps=1, prompt=16, new_tokens=4, remind_rows=8, remind_tokens=16
)


def test_the_shapes_have_the_published_parameter_counts() -> None:
    """By hand for Llama-3.2-1B: embedding 128,256 x 2,048 = 262,668,288 (tied head); a layer has
    q, o 2,048² each, k, v 2,048 x 512 each (8 KV heads of 64), MLP 3 x 2,048 x 8,192 and two norms:
    60,821,504; 16 layers and the final norm: 1,235,814,400. Llama-3.1-8B's model card says 8.03B."""
    counts = {
        s: sum(p.numel() for p in random_model(s, torch.device("meta"), torch.bfloat16).parameters())
        for s in ("llama-3.2-1b", "llama-3.1-8b")
    }
    assert counts["llama-3.2-1b"] == 262_668_288 + 16 * 60_821_504 + 2_048
    assert round(counts["llama-3.1-8b"] / 1e9, 2) == 8.03


def test_a_full_step_counts_the_weight_gradients() -> None:
    """One row of 4 tokens, its last 2 the answer (window: 3 columns); N = 10 body weights, H = 5 head.
    LoRA-free frozen step: forget 4N + ref 2N + retain 4N per token = 400, head rows 3 x (4H + 2H + 4H)
    = 150. Full: the trained body costs 6N instead of 4N in both trained passes: 4 x 140 = 560; the
    head trained too: 3 x (6H + 2H + 6H) = 210."""
    b = token_batch(100, 1, 4, 2, torch.device("cpu"), seed=0)
    assert step_flops(b, b, 10, 5, 0) == 4 * 100 + 3 * 50
    assert step_flops(b, b, 10, 5, 0, body_trained=True) == 4 * 140 + 3 * 50
    assert step_flops(b, b, 10, 5, 0, body_trained=True, head_trained=True) == 4 * 140 + 3 * 70


def test_the_bench_runs_every_setting_on_a_small_shape() -> None:
    result = run("cpu", ("small",), LOAD, log=lambda _: None)
    small = result["shapes"]["small"]
    for key in ("lora", "lora_low_memory", "full", "full_low_memory"):
        s = small[key]
        assert s["tokens_per_s"] > 0 and 0 < s["share_of_peak"] < 1, (key, s)
        assert s["estimate_bytes"] > small["weight_bytes"]
    assert small["lora"]["precision"] == "trained in float32"
    # fp32 on both kernels: the eager forward (the maps') is the fused one to rounding
    assert small["kernel_logit_max_diff"] < 1e-4 * max(1.0, small["logit_scale"])
    assert small["generation_tokens_per_s"] > 0 and small["remind_sequences_per_s"] > 0
    assert result["goals"] == {}  # the goals name the 1B and 8B shapes, not measured here
    assert bench_gpu.summary(result)[-1] == "goals: "


def test_a_setting_that_cannot_fit_is_reported_and_not_run(monkeypatch) -> None:
    model = random_model("small", torch.device("cpu"), torch.float32)
    digest = weights_digest(SimpleNamespace(model=model))
    monkeypatch.setattr("unlearn.train.memory_plan.free_bytes", lambda device: 1024)
    out = time_npo(model, "full", False, LOAD, peak=1e9)
    assert "Nothing was changed" in out["refused"] and weights_digest(SimpleNamespace(model=model)) == digest


def test_an_out_of_memory_step_is_reported_and_undone(monkeypatch) -> None:
    model = random_model("small", torch.device("cpu"), torch.float32)
    digest = weights_digest(SimpleNamespace(model=model))

    def failing(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(bench_gpu, "train_loop", failing)
    out = time_npo(model, "full", False, LOAD, peak=1e9)
    assert "ran out of memory" in out["out_of_memory"] and out["estimate_bytes"] > 0
    assert weights_digest(SimpleNamespace(model=model)) == digest and not any(
        p.requires_grad for p in model.parameters()
    )
