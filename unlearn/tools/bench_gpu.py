"""`python -m unlearn bench --gpu`: the project's code on the shapes of the benchmark models.

It builds randomly initialised models with the configuration of Llama-3.2-1B and Llama-3.1-8B (the
shapes are the published config.json values; nothing is downloaded) and times, on the GPU it finds:

- NPO steps through the project's own loop (`train_loop`, the NPO method, `make_trainable`): LoRA and
  full, each with and without recomputed activations. Each gives tokens/s, the share of the GPU's
  measured bf16 matmul peak (FLOPs counted as `bench.step_flops` counts them) and the peak memory
  against the estimate `memory_plan` refuses runs by. A setting the estimate says will not fit is
  reported with the refusal the app shows, and a real out-of-memory error with the message the app
  shows after it; neither stops the bench.
- the Compare tab's forwards: the probe's (eager attention, every layer's maps and hidden states)
  and a scoring forward on the fused kernel, and greedy generation (new tokens/s);
- REMIND: neighbour sequences scored per second through `remind.answer_losses`.

Random weights compute exactly as trained ones do, so the figures are those of the real models. The
token ids are random too (no tokenizer is needed): each item is `tokens` long with its last `answer`
tokens as the answer, which is what the losses read. On a CPU the same code runs on a small shape.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedModel

from unlearn.audit.remind import RemindConfig, answer_losses
from unlearn.data.prompts import IGNORE
from unlearn.errors import UserError
from unlearn.model.kernels import eager_attention, fast_kernel
from unlearn.tools.flops import matmul_params, peak_matmul_flops, step_flops, steps_per_second, sync_device
from unlearn.train.compiled import compiled_layers
from unlearn.train.loop import LoopConfig, StepInfo, seed_everything, train_loop
from unlearn.train.memory_plan import RunShape, RunTooBig, check_run_fits, human, out_of_memory
from unlearn.train.methods import Context, StepBatch, config_for, get_method
from unlearn.train.params import make_trainable
from unlearn.train.recompute import recompute_activations

Batch = dict[str, torch.Tensor]
Log = Callable[[str], None]

_LLAMA3 = dict(vocab_size=128256, num_key_value_heads=8, rope_theta=500000.0, rms_norm_eps=1e-5)
# the sizes of each model's config.json on the hub (meta-llama/...); the RoPE scaling of long contexts
# is left out: it changes no FLOP and no byte at these lengths
SHAPES: dict[str, dict[str, Any]] = {
    "llama-3.2-1b": dict(
        _LLAMA3,
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        head_dim=64,
        tie_word_embeddings=True,
    ),
    "llama-3.1-8b": dict(
        _LLAMA3,
        hidden_size=4096,
        intermediate_size=14336,
        num_hidden_layers=32,
        num_attention_heads=32,
        head_dim=128,
        tie_word_embeddings=False,
    ),
    # what a CPU can run in seconds: the same code paths, nothing to compare with a paper
    "small": dict(
        vocab_size=4096,
        hidden_size=256,
        intermediate_size=768,
        num_hidden_layers=4,
        num_attention_heads=4,
        num_key_value_heads=2,
        tie_word_embeddings=True,
    ),
}
GPU_SHAPES, CPU_SHAPES = ("llama-3.2-1b", "llama-3.1-8b"), ("small",)
LORA_R = 8  # the app's default rank
GOAL_SHARE, GOAL_8B_LORA_BYTES = 0.40, 40 * 10**9  # issue 17's goals: 1B LoRA share of peak, 8B LoRA memory


@dataclass(frozen=True)
class Workload:
    batch: int  # items in a forget batch, and in a retain batch
    tokens: int  # tokens per item
    answer: int  # of which answer tokens (the end of the item)
    warmup: int  # untimed steps (kernel choice, optimizer state)
    steps: int  # timed steps
    prompt: int  # tokens of the Compare prompt
    new_tokens: int  # generated per Compare answer
    remind_rows: int  # neighbour sequences REMIND scores
    remind_tokens: int  # tokens per neighbour sequence


# GPU: MUSE-like items (its forget texts are cut into 2,048-token chunks; TOFU's are ~100 tokens),
# a batch of 8 as TOFU's and MUSE's runs use per device
GPU_LOAD = Workload(8, 1024, 512, 2, 5, 128, 64, 512, 128)
CPU_LOAD = Workload(2, 64, 32, 1, 2, 32, 8, 16, 32)
# (mode, recompute activations, compiled layers): the settings a user picks between. Compiling takes
# a minute on 2 CPU cores for the small shape, so the CPU bench leaves those settings out.
SETTINGS = (("lora", False, False), ("lora", True, False), ("full", False, False), ("full", True, False))
COMPILED = (("lora", False, True), ("lora", True, True), ("full", False, True))


def random_model(shape: str, device: torch.device, dtype: torch.dtype) -> PreTrainedModel:
    """A model of `shape` with random weights, made on `device` directly (no CPU copy of 8B weights)."""
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(
            LlamaConfig(**SHAPES[shape]), dtype=dtype, attn_implementation=fast_kernel(device, dtype)
        )
    return model.eval()  # as from_pretrained leaves it, and as the app runs it


def token_batch(vocab: int, rows: int, tokens: int, answer: int, device: torch.device, seed: int) -> Batch:
    """Random ids; the last `answer` tokens of each row are its answer."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(vocab, (rows, tokens), generator=gen)  # (B, T)
    labels = ids.clone()
    labels[:, : tokens - answer] = IGNORE
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    return {k: v.to(device) for k, v in batch.items()}


@contextmanager
def peak_memory(device: torch.device) -> Iterator[dict[str, int | None]]:
    """The block's peak of allocated device memory (CUDA's allocator; None on a CPU)."""
    out: dict[str, int | None] = {"peak_bytes": None}
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    yield out
    if device.type == "cuda":
        out["peak_bytes"] = int(torch.cuda.max_memory_allocated(device))


def weight_bytes(model: PreTrainedModel) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def time_npo(
    model: PreTrainedModel, mode: str, low: bool, load: Workload, peak: float, compiled: bool = False
) -> dict[str, Any]:
    """Steps of an NPO run (paper hyperparameters, lr 1e-5) with forget and retain batches; the first
    step's seconds are reported apart (with `compiled`, they include compiling)."""
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    forget = token_batch(vocab, load.batch, load.tokens, load.answer, device, seed=1)
    retain = token_batch(vocab, load.batch, load.tokens, load.answer, device, seed=2)
    shape = RunShape(mode, None, LORA_R, None, load.batch, load.tokens, low, load.answer + 1)
    out: dict[str, Any] = {}
    try:
        plan = check_run_fits(model, shape, device)
    except RunTooBig as e:
        return {"refused": str(e)}
    out["estimate_bytes"] = weight_bytes(model) + plan.total
    seed_everything(0)
    trainable = make_trainable(model, mode, lora_r=LORA_R)
    try:
        method = get_method("npo")(config_for("npo", "paper"), Context(model, trainable))
        stamps: list[float] = []

        def on_step(_: StepInfo) -> None:
            sync_device(device)
            stamps.append(time.perf_counter())

        n = load.warmup + load.steps
        cfg = LoopConfig(lr=1e-5, steps=n, batch_size=load.batch, max_length=load.tokens)
        t0 = time.perf_counter()
        with peak_memory(device) as mem, recompute_activations(model, low), compiled_layers(model, compiled):
            result = train_loop(
                trainable.params,
                None,
                itertools.repeat((forget, retain)),
                cfg,
                n,
                device,
                on_step,
                backward_fn=lambda pair, scale: method.backward(StepBatch(pair[0], pair[1]), scale),
            )
        steps_per_s = steps_per_second(stamps, load.warmup)
        body, head = matmul_params(model)
        n_lora = sum(p.numel() for p in trainable.params) if mode == "lora" else 0
        head_w = model.get_output_embeddings().weight
        flops = step_flops(
            forget, retain, body, head, n_lora, body_trained=mode == "full", head_trained=head_w.requires_grad
        )
        out.update(
            step_seconds=1 / steps_per_s,
            first_step_seconds=stamps[0] - t0,
            tokens_per_s=2 * load.batch * load.tokens * steps_per_s,
            share_of_peak=flops * steps_per_s / peak,
            precision=result.precision,
            **mem,
        )
    except torch.OutOfMemoryError:
        # what the app does after a real out-of-memory error: undo, free, explain
        trainable.reset()
        out = {"out_of_memory": str(out_of_memory(device, shape)), **out}
    else:
        trainable.reset()
    finally:
        for p in model.parameters():
            p.grad = None
            p.requires_grad_(False)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return out


def _best_seconds(fn: Callable[[], Any], device: torch.device, repeats: int = 3) -> float:
    fn()  # warm-up
    sync_device(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync_device(device)
        best = min(best, time.perf_counter() - t0)
    return best


@torch.inference_mode()
def time_inspection(model: PreTrainedModel, load: Workload) -> dict[str, Any]:
    """The Compare forwards, generation and REMIND scoring, with the kernels the app uses for each."""
    device = next(model.parameters()).device
    vocab = model.config.vocab_size
    prompt = token_batch(vocab, 1, load.prompt, load.prompt // 2, device, seed=3)
    ids = prompt["input_ids"]

    def probe_forward() -> Any:  # probe.py's forward: maps and hidden states of every layer
        with eager_attention(model):
            return model(
                input_ids=ids, output_hidden_states=True, output_attentions=True, logits_to_keep=load.prompt // 2 + 1
            )

    def generation() -> Any:  # compare.generate, greedy, forced to its full length
        return model.generate(
            input_ids=ids,
            attention_mask=prompt["attention_mask"],
            do_sample=False,
            max_new_tokens=load.new_tokens,
            min_new_tokens=load.new_tokens,
            pad_token_id=0,
        )

    rows = token_batch(vocab, load.remind_rows, load.remind_tokens, load.remind_tokens // 2, device, seed=4)
    batch_size = RemindConfig().batch_size
    with eager_attention(model):
        eager = model(input_ids=ids).logits.float()
    fused = model(input_ids=ids).logits.float()
    remind = _best_seconds(lambda: answer_losses(model, rows["input_ids"], rows["labels"], batch_size), device, 1)
    return {
        "probe_forward_seconds": _best_seconds(probe_forward, device),
        "scoring_forward_seconds": _best_seconds(lambda: model(input_ids=ids), device),
        "generation_tokens_per_s": load.new_tokens / _best_seconds(generation, device, 1),
        "remind_sequences_per_s": load.remind_rows / remind,
        "remind_tokens_per_s": load.remind_rows * load.remind_tokens / remind,
        # the fused and eager kernels on the same input: how far the maps' forward is from the others'
        "kernel_logit_max_diff": float((eager - fused).abs().max()),
        "logit_scale": float(eager.abs().max()),
    }


def bench_shape(
    shape: str, device: torch.device, dtype: torch.dtype, load: Workload, peak: float, log: Log, compile_too: bool
) -> dict[str, Any]:
    t0 = time.perf_counter()
    model = random_model(shape, device, dtype)
    sync_device(device)
    out: dict[str, Any] = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "weight_bytes": weight_bytes(model),
        "build_seconds": time.perf_counter() - t0,
        "kernel": model.config._attn_implementation,
    }
    for mode, low, compiled in SETTINGS + (COMPILED if compile_too else ()):
        key = mode + ("_low_memory" if low else "") + ("_compiled" if compiled else "")
        log(f"{shape}: NPO {key}")
        try:
            out[key] = time_npo(model, mode, low, load, peak, compiled)
        except Exception as e:  # one setting that breaks (a compiler error, say) leaves the others measured
            log(f"{shape}: NPO {key} failed: {e!r}")
            out[key] = {"error": repr(e)[:2000]}
        log(f"{shape} {key}: {json.dumps(out[key])}")  # kept in the log should a later setting hang
    log(f"{shape}: compare, generation, REMIND")
    out.update(time_inspection(model, load))
    del model
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return out


def goals(result: dict[str, Any]) -> dict[str, Any]:
    """Issue 17's two goals, where the shapes they name were measured."""
    shapes = result["shapes"]
    out: dict[str, Any] = {}
    if "llama-3.2-1b" in shapes:
        one = shapes["llama-3.2-1b"]
        for key in ("lora", "lora_compiled"):
            if key in one:
                share = one[key].get("share_of_peak")
                out[f"{key}_1b_share_of_peak_at_least_40pct"] = share is not None and share >= GOAL_SHARE
    if "llama-3.1-8b" in shapes:
        fits = [
            s.get("peak_bytes")
            for k, s in shapes["llama-3.1-8b"].items()
            if k.startswith("lora") and isinstance(s, dict) and s.get("peak_bytes")
        ]
        out["lora_8b_within_40GB"] = bool(fits) and min(fits) <= GOAL_8B_LORA_BYTES
    return out


def bench_gpu(
    device: str | None = None,
    shapes: tuple[str, ...] | None = None,
    load: Workload | None = None,
    log: Log = print,
    compile_too: bool | None = None,
) -> dict[str, Any]:
    """Every shape and setting; the compiled settings too on a GPU (or as `compile_too` says)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    gpu = dev.type == "cuda"
    shapes = shapes or (GPU_SHAPES if gpu else CPU_SHAPES)
    unknown = [s for s in shapes if s not in SHAPES]
    if unknown:
        raise UserError(f"unknown shape {unknown[0]!r}; valid: {', '.join(SHAPES)}")
    load = load or (GPU_LOAD if gpu else CPU_LOAD)
    dtype = torch.bfloat16 if gpu else torch.float32  # what models.load_model picks on each
    log("measuring the matmul peak")
    peak = peak_matmul_flops(dev, 8192 if gpu else 512, 3.0 if gpu else 0.5)
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(dev) if gpu else "cpu",
        "dtype": str(dtype).removeprefix("torch."),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peak_matmul_tflops": peak / 1e12,
        "workload": asdict(load),
        "shapes": {},
    }
    for shape in shapes:
        compile_here = gpu if compile_too is None else compile_too
        result["shapes"][shape] = bench_shape(shape, dev, dtype, load, peak, log, compile_here)
    result["goals"] = goals(result)
    return result


def summary(result: dict[str, Any]) -> list[str]:
    """One line per shape and setting, for people."""
    lines = [f"{result['device']} ({result['dtype']}), matmul peak {result['peak_matmul_tflops'] * 1e3:,.0f} GFLOP/s"]
    for shape, r in result["shapes"].items():
        for key, s in r.items():
            if not isinstance(s, dict):
                continue
            if "tokens_per_s" in s:
                mem = (
                    f", peak {human(s['peak_bytes'])} (estimated {human(s['estimate_bytes'])})"
                    if s.get("peak_bytes")
                    else ""
                )
                lines.append(
                    f"{shape} NPO {key}: {s['tokens_per_s']:,.0f} tokens/s, {s['share_of_peak']:.0%} of peak{mem}"
                )
            else:
                lines.append(
                    f"{shape} NPO {key}: " + (s.get("refused") or s.get("out_of_memory") or s.get("error", ""))
                )
        lines.append(
            f"{shape} compare: probe {r['probe_forward_seconds'] * 1e3:.0f} ms, generation "
            f"{r['generation_tokens_per_s']:.0f} tokens/s, REMIND {r['remind_sequences_per_s']:.0f} seq/s"
        )
    lines.append("goals: " + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in result["goals"].items()))
    return lines
