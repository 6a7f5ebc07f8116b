"""How fast and how lean the unlearning loop and the Compare tab are, on this machine, against five targets.

`python -m unlearn bench [--model bundled] [--json] [--quick]` measures, in one process:

- loop_vs_bare_ratio: steps/s of the project's loop (`run_unlearning`, NPO + LoRA, quick defaults,
  retain set on, no live evaluation) over steps/s of `bare_loop` below, a hand-written PyTorch loop
  doing the same forward/backward/AdamW work on the same batches. It is the loop's overhead.
- flops_share_of_peak: the loop's training FLOP/s (counted analytically, `step_flops`) over this
  machine's measured matmul FLOP/s (`peak_matmul_flops`). It says how much of the hardware the
  small matmuls, attention and the vocabulary-wide losses of one step actually use.
- memory_vs_model_ratio: peak memory of a before/after session (load the model, put a saved run's
  "after" on it from disk, compute before and after on one prompt with every layer's hidden
  states and attentions) over the bytes of the model's own parameters, in a fresh subprocess. Reported
  beside it, without a target: the peak of an unlearning run, with activations stored
  (train_memory_vs_model_ratio) and recomputed (train_low_memory_vs_model_ratio, `--low-memory`).
- demo_run_seconds: wall time of the quick demo (`python -m unlearn run` defaults, live curves on,
  before/after measurement included; model loading excluded, the app loads it once).
- remind_vs_bare_ratio: REMIND's neighbour sequences per second (`landscape`, default p, m, K and
  sweep) over a bare batched forward over the same sequences (`bench_remind.py`).
- compare_tab_seconds: every Compare panel for the demo run on a ~64-token forget item, both models:
  generations, probes, figures and attribution (`bench_compare.py`; the parts are reported beside it).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, collate, encode
from unlearn.inspection.compare import Decoding, compare
from unlearn.model.forward import answer_window
from unlearn.model.models import LoadedModel, load_model
from unlearn.model.paths import PROJECT
from unlearn.tools.bench_compare import prompt_near, time_compare
from unlearn.tools.bench_remind import time_remind
from unlearn.train.engine import DEMO_STEPS, RunSpec, run_unlearning
from unlearn.train.loop import cycle_batches
from unlearn.train.methods import config_for
from unlearn.train.params import make_trainable
from unlearn.train.runs import apply_run, list_runs, save_run

Batch = dict[str, torch.Tensor]
Log = Callable[[str], None]

# key -> ("min" | "max", bound): the four figures and the side each must stay on
TARGETS: dict[str, tuple[str, float]] = {
    "loop_vs_bare_ratio": ("min", 0.9),
    "flops_share_of_peak": ("min", 0.5),
    "memory_vs_model_ratio": ("max", 1.3),
    "demo_run_seconds": ("max", 90.0),
    "compare_tab_seconds": ("max", 3.0),
    "remind_vs_bare_ratio": ("min", 0.8),
}


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


def _sync(device: torch.device) -> None:
    # CUDA runs asynchronously: a clock read without a sync times the launch, not the work
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Use `n` torch intra-op threads inside the block (None: leave them alone)."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------------------------------------
# (a) the project's loop against a bare loop


def encoded_pairs(lm: LoadedModel, data: DemoData, spec: RunSpec, n: int) -> list[tuple[Batch, Batch]]:
    """The first `n` (forget, retain) batches `run_unlearning` trains on, encoded as it encodes them
    (same shuffling seeds, same padding), so both loops see identical tensors."""
    loop = spec.loop_config()
    pad = lm.tokenizer.pad_token_id
    forget = cycle_batches(data.forget, loop.batch_size, loop.seed)
    retain = cycle_batches(data.retain_train, loop.batch_size, loop.seed + 1)

    def enc(items: list[Example]) -> Batch:
        return collate([encode(lm.tokenizer, e, loop.max_length) for e in items], pad, lm.device)

    return [(enc(next(forget)), enc(next(retain))) for _ in range(n)]


def bare_loop(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    pairs: list[tuple[Batch, Batch]],
    lr: float,
    max_grad_norm: float,
    beta: float,
    gamma: float,
    alpha: float,
) -> list[float]:
    """NPO + retain NLL on LoRA params with AdamW, written out by hand; returns a clock reading
    after each step. B batch, W answer-window columns, V vocabulary."""
    device = params[0].device
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    # bf16 autocast on CUDA, as the project loop does, so both do the same arithmetic
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def fwd(b: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        # the head only over the answer window, as the project does (forward.py), written out here
        cols = (b["labels"] != IGNORE).any(0).nonzero().flatten()
        keep = torch.arange(max(int(cols[0]) - 1, 0), int(cols[-1]) + 1, device=device)  # (W,)
        logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], logits_to_keep=keep).logits
        return logits, b["labels"][:, keep]  # (B, W, V), (B, W)

    def seq_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits[:, :-1].float()  # (B, W-1, V): position t predicts token t+1
        target = labels[:, 1:]  # (B, W-1), IGNORE off the answer
        nll = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none")
        return nll.view(target.shape).sum(1)  # (B,)

    stamps = []
    for fb, rb in pairs:
        with autocast:
            logp = -seq_nll(*fwd(fb))  # (B,) log π_θ(y|x)
            with torch.no_grad():  # the reference π_θ₀ is the same model with its adapters off
                model.disable_adapters()
                ref_logp = -seq_nll(*fwd(fb))  # (B,)
                model.enable_adapters()
            npo = (-(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp))).mean()  # ()
            n_answer = (rb["labels"][:, 1:] != IGNORE).sum().clamp(min=1)
            retain = seq_nll(*fwd(rb)).sum() / n_answer  # () mean token NLL
            loss = gamma * npo + alpha * retain
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        _sync(device)
        stamps.append(time.perf_counter())
    return stamps


def _rate(stamps: list[float], warmup: int) -> float:
    """Steps/s over the stamps after the warm-up (stamp i is taken when step i+1 ends)."""
    timed = len(stamps) - warmup
    return timed / (stamps[-1] - stamps[warmup - 1])


def time_project_loop(lm: LoadedModel, data: DemoData, spec: RunSpec, warmup: int) -> float:
    """Steps/s of `run_unlearning` (eval_every=0), timed between steps so the before/after
    scoring it also does is left out; the adapter is removed afterwards."""
    stamps: list[float] = []

    def on_step(_: Any) -> None:
        _sync(lm.device)
        stamps.append(time.perf_counter())

    # the retain eval items are only scored before and after, never timed: skip them
    out = run_unlearning(lm, spec, data.forget, data.retain_train, [], on_step=on_step)
    out.trainable.reset()
    return _rate(stamps, warmup)


def time_bare_loop(lm: LoadedModel, spec: RunSpec, pairs: list[tuple[Batch, Batch]], warmup: int) -> float:
    """Steps/s of `bare_loop` on the same LoRA adapter the project adds, with the same hyperparameters."""
    trainable = make_trainable(lm.model, spec.mode, None, spec.lora_r)
    hp = config_for(spec.method, spec.preset, **spec.hparams)
    loop = spec.loop_config()
    try:
        stamps = bare_loop(lm.model, trainable.params, pairs, loop.lr, loop.max_grad_norm, hp.beta, hp.gamma, hp.alpha)
    finally:
        trainable.reset()
    return _rate(stamps, warmup)


# ---------------------------------------------------------------------------------------------
# (b) FLOPs


def matmul_params(model: torch.nn.Module) -> tuple[int, int]:
    """(body, head): weights taking part in a matmul per token in the transformer body, and in the
    output head. The input embedding is a lookup (no FLOPs); the head is a matmul, counted even when
    tied to the embedding. LoRA weights are counted apart (`step_flops`)."""
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    head_w = head.weight if head is not None else emb
    # named_parameters() yields a tied tensor once
    body = sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)
    body -= emb.numel() + (head_w.numel() if head_w is not emb else 0)
    return body, head_w.numel()


def step_flops(
    forget: Batch,
    retain: Batch,
    n_body: int,
    n_head: int,
    n_lora: int,
    body_trained: bool = False,
    head_trained: bool = False,
) -> float:
    """Training FLOPs of one NPO + retain step, counting real (non-pad) tokens only.

    Per token, a forward matmul costs 2 FLOPs per weight. With N the body's weights, L the LoRA
    weights and H the head's (applied only to the answer window's rows, forward.py):
      - forget pass, adapters on, with gradients: forward 2(N+L); backward through the frozen
        weights still computes activation gradients, 2N, and through LoRA both activation and weight
        gradients, 4L: 4N + 6L per token, and 4H per window row (the head is frozen);
      - reference pass on the forget batch, adapters off, no gradients: 2N per token, 2H per row;
      - retain pass, adapters on, with gradients: as the forget pass.
    A full run trains the body's weights (`body_trained`), and an untied head may be trained too
    (`head_trained`): their backward adds the weight gradients, 2 more FLOPs per weight (6 in all).
    Attention scores (4·T·d per token per layer) and the norms are left out: at these lengths they
    are a few percent, so the share of peak is slightly understated, never flattered.
    """

    def tokens(b: Batch) -> tuple[float, float]:
        window = answer_window(b["labels"])
        return float(b["attention_mask"].sum()), float(b["attention_mask"][:, window].sum())

    (tf, hf), (tr, hr) = tokens(forget), tokens(retain)
    train_tok = (6 if body_trained else 4) * n_body + 6 * n_lora
    train_row = (6 if head_trained else 4) * n_head
    return tf * (train_tok + 2 * n_body) + hf * (train_row + 2 * n_head) + tr * train_tok + hr * train_row


def peak_matmul_flops(device: torch.device, n: int, seconds: float) -> float:
    """FLOP/s of back-to-back n×n matmuls in the dtype training runs in (fp32 on CPU, bf16 on
    CUDA): the best this machine does on the operation that dominates a transformer. The first third
    of `seconds` is untimed: an idle GPU clocks down, and a peak taken while it clocks up would
    flatter every share of it."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)

    def run(budget: float) -> float:
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < budget:
            for _ in range(8 if device.type == "cuda" else 1):
                torch.matmul(a, b, out=c)
                count += 1
            _sync(device)
        return 2.0 * n**3 * count / (time.perf_counter() - t0)

    run(seconds / 3)  # warm-up: clocks, thread pool, cuBLAS handle
    return run(seconds * 2 / 3)


# ---------------------------------------------------------------------------------------------
# (c) memory, in a fresh process


def _rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process image. Linux: VmHWM, which starts afresh at exec;
    getrusage's ru_maxrss does not (a child inherits the parent's peak across fork + exec, which
    made every child report the parent's 3.2 GiB). Elsewhere ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


MEMORY_KINDS = ("compare", "train", "train_low")


def memory_session(model_ref: str, device: str | None, sz: BenchSizes, kind: str, run_dir: str = "") -> dict[str, int]:
    """Peak memory of one kind of session, and the model's bytes.

    - compare: a before/after session as the app holds one: load the model, put a saved run's
      "after" on it from disk, and run the Compare tab's `compare()` on the ~64-token forget item
      (both generations; one forward per model with logits, every layer's hidden states and
      attentions; the kept arrays). The claim under test: "before" costs no second model.
    - train / train_low: load and unlearn (the quick demo's settings, `memory_steps` steps), with
      activations stored or recomputed (`RunSpec.low_memory`). Not the before/after claim: what a
      training step's activations add, which grows with batch x tokens x layers.

    CUDA: torch's peak allocation. CPU: peak RSS minus the RSS just before loading (imports and
    the interpreter are not the session's cost)."""
    base = _rss_bytes()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    lm = load_model(model_ref, device=device)
    model_bytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    data = demo_data(sz.max_items)
    if kind == "compare":
        trainable = apply_run(lm, Path(run_dir))
        ex, _ = prompt_near(lm, data.forget)
        kept = compare(
            lm.model,
            lm.tokenizer,
            trainable.reference,
            ex,
            Decoding(),
            True,
            "bench",
            side_by_side=trainable.side_by_side,
        )
        assert kept.before.probe.attentions.shape == kept.after.probe.attentions.shape
    else:
        spec = replace(demo_spec(sz.memory_steps, eval_every=0), low_memory=kind == "train_low")
        run_unlearning(lm, spec, data.forget, data.retain_train, data.retain_eval)
    if lm.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(lm.device)
    else:
        peak = _peak_rss_bytes() - base
    return {"model_bytes": model_bytes, "peak_bytes": peak}


def measure_memory(model_ref: str, device: str, quick: bool, kind: str, run_dir: str = "") -> dict[str, int]:
    """Run `memory_session` in a child interpreter, so this process's earlier peaks do not count."""
    root = str(PROJECT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    size = "quick" if quick else "full"
    cmd = [sys.executable, "-m", "unlearn.tools.bench", "memory", model_ref, device, size, kind, run_dir]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root)
    if proc.returncode != 0:
        raise RuntimeError(f"the {kind} memory measurement failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------
# (d) the quick demo, and everything together


def time_demo(lm: LoadedModel, data: DemoData, steps: int, save_to: Path) -> float:
    """Seconds of `run_unlearning` as `python -m unlearn run` calls it: before/after scoring and
    live curves included. The run is then saved under `save_to` (untimed) for the compare session."""
    t0 = time.perf_counter()
    out = run_unlearning(lm, demo_spec(steps), data.forget, data.retain_train, data.retain_eval)
    seconds = time.perf_counter() - t0
    save_run(out, lm, {"forget": "harry_potter", "retain": "general_knowledge"}, root=save_to)
    out.trainable.reset()
    return seconds


def _met(values: dict[str, float]) -> dict[str, bool]:
    return {k: (values[k] >= bound if side == "min" else values[k] <= bound) for k, (side, bound) in TARGETS.items()}


def run_bench(model_ref: str, device: str | None = None, quick: bool = False, log: Log = print) -> dict[str, Any]:
    """All four measurements on `model_ref`; `log` gets one human-readable line per measurement."""
    sz = QUICK if quick else FULL
    with _threads(sz.threads):
        return _measure(model_ref, device, sz, quick, log)


def _measure(model_ref: str, device: str | None, sz: BenchSizes, quick: bool, log: Log) -> dict[str, Any]:
    lm = load_model(model_ref, device=device)
    data = demo_data(sz.max_items)
    spec = demo_spec(sz.warmup + sz.steps, eval_every=0)

    pairs = encoded_pairs(lm, data, spec, sz.warmup + sz.steps)
    peaks, loop_rates, bare_rates = [], [], []
    # Interleave the three, so a burst of background load hits each alike; keep the best of each,
    # since load only ever slows a run. (A peak taken once, apart, under other load than the loop's,
    # gave a "share" of 1.2 on a shared 2-core machine.)
    for _ in range(sz.rounds):
        peaks.append(peak_matmul_flops(lm.device, sz.matmul_n, sz.matmul_seconds))
        loop_rates.append(time_project_loop(lm, data, spec, sz.warmup))
        bare_rates.append(time_bare_loop(lm, spec, pairs, sz.warmup))
    peak, loop_rate, bare_rate = max(peaks), max(loop_rates), max(bare_rates)
    log(f"matmul peak ({sz.matmul_n}², {str(lm.dtype).removeprefix('torch.')}): {peak / 1e9:.1f} GFLOP/s")
    log(f"loop {loop_rate:.3f} steps/s, bare {bare_rate:.3f} steps/s: ratio {loop_rate / bare_rate:.3f}")

    n_body, n_head = matmul_params(lm.model)
    lora = make_trainable(lm.model, spec.mode, None, spec.lora_r)
    n_lora = lora.n_trained()
    lora.reset()
    timed = pairs[sz.warmup :]
    flops = sum(step_flops(f, r, n_body, n_head, n_lora) for f, r in timed) / len(timed)
    achieved = flops * loop_rate
    log(f"loop training compute {achieved / 1e9:.1f} GFLOP/s ({flops / 1e9:.1f} GFLOP/step): {achieved / peak:.3f}")

    with tempfile.TemporaryDirectory(prefix="unlearn-bench-") as tmp:
        demo_s = time_demo(lm, data, sz.demo_steps, Path(tmp))
        log(f"quick demo ({sz.demo_steps} steps, live curves, before/after): {demo_s:.1f} s")
        run_dir = list_runs(Path(tmp))[0]["dir"]
        cmp = time_compare(lm, Path(run_dir), data.forget, repeats=1 if quick else 3)
        log(
            f"compare tab ({cmp['compare_prompt_tokens']} tokens, both models): {cmp['compare_tab_seconds']:.2f} s = "
            f"generation {cmp['compare_generate_seconds']:.2f} + probes {cmp['compare_probe_seconds']:.2f} + "
            f"figures {cmp['compare_figures_seconds']:.2f} + attribution {cmp['compare_attribution_seconds']:.2f}"
        )
        mem = {k: measure_memory(model_ref, str(lm.device), quick, k, run_dir) for k in MEMORY_KINDS}
    rem = time_remind(lm, data.forget[: sz.remind_items])
    log(
        f"REMIND {rem['remind_sequences']} neighbour sequences of {rem['remind_items']} items: "
        f"{rem['remind_sequences_per_s']:.1f}/s vs bare forward {rem['bare_sequences_per_s']:.1f}/s: "
        f"{rem['remind_vs_bare_ratio']:.3f}"
    )
    model_mib = mem["compare"]["model_bytes"] / 2**20
    ratios = {k: m["peak_bytes"] / m["model_bytes"] for k, m in mem.items()}
    for k, m in mem.items():
        log(f"{k} session peak {m['peak_bytes'] / 2**20:.0f} MiB, model {model_mib:.1f} MiB: {ratios[k]:.2f}")

    values = {
        "loop_vs_bare_ratio": loop_rate / bare_rate,
        "flops_share_of_peak": achieved / peak,
        "memory_vs_model_ratio": ratios["compare"],
        "demo_run_seconds": demo_s,
        "compare_tab_seconds": cmp["compare_tab_seconds"],
        "remind_vs_bare_ratio": rem["remind_vs_bare_ratio"],
    }
    return {
        **{k: round(v, 4) for k, v in values.items()},
        "met": _met(values),
        "targets": {k: {side: bound} for k, (side, bound) in TARGETS.items()},
        "device": str(lm.device),
        "threads": torch.get_num_threads(),
        "model": lm.name,
        "quick": quick,
        "loop_steps_per_s": round(loop_rate, 4),
        "bare_steps_per_s": round(bare_rate, 4),
        "peak_gflops": round(peak / 1e9, 2),
        "achieved_gflops": round(achieved / 1e9, 2),
        "model_bytes": mem["compare"]["model_bytes"],
        "peak_bytes": mem["compare"]["peak_bytes"],
        # what a training step adds (no target: it grows with batch x tokens x layers)
        "train_memory_vs_model_ratio": round(ratios["train"], 4),
        "train_low_memory_vs_model_ratio": round(ratios["train_low"], 4),
        "train_peak_bytes": mem["train"]["peak_bytes"],
        "train_low_peak_bytes": mem["train_low"]["peak_bytes"],
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in cmp.items() if k != "compare_tab_seconds"},
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in rem.items() if k != "remind_vs_bare_ratio"},
    }


if __name__ == "__main__":  # the child process of `measure_memory`
    if sys.argv[1:2] != ["memory"] or len(sys.argv) < 6 or sys.argv[5] not in MEMORY_KINDS:
        sys.exit(
            "usage: python -m unlearn.tools.bench memory MODEL DEVICE quick|full compare|train|train_low [RUN_DIR]"
            " (use `python -m unlearn bench`)"
        )
    sizes = QUICK if sys.argv[4] == "quick" else FULL
    with _threads(sizes.threads):
        print(json.dumps(memory_session(sys.argv[2], sys.argv[3], sizes, sys.argv[5], (sys.argv[6:7] or [""])[0])))
