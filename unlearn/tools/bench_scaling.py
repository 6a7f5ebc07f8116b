"""How cost grows with the size of the work (issue 19): `python -m unlearn bench --scaling`.

Six curves of (x, seconds) on one loaded model, each with the exponent b of t ≈ a·x^b fitted on
log-log axes (`viz.scaling.fit_power`). The exponents are the result, not the seconds. With the bundled
model the whole run took 21 minutes on this project's shared 2-core CPU while other jobs ran (17
minutes of CPU time; on an idle machine less), over half of it the five audits: `ScalingSizes` holds
the sizes.

On a CPU the seconds are this process's CPU time with torch on one thread: on an idle machine that is
the wall time, and other jobs on a shared one barely move it. The wall clock did not hold still there
(the same one-epoch step read 5.5 s in one run and 8.4 s in the next), and a second torch thread
competing with other jobs made a forward 5x slower (17.1 s against 3.1 s); either would bend the
curves with noise. On a GPU the seconds are wall time after a sync, as the GPU's work is not the
process's CPU time.

- run_vs_forget_items: the time of a one-epoch unlearning run on the first N harry_potter items
  (NPO + LoRA r=8, quick preset, batch 4, general_knowledge's train part as the retain batches, no
  live curves): N/4 optimizer steps plus the before/after scoring of the N forget items. This is what a
  user waits for as the forget set grows; the held-out retain scoring, a fixed cost, is left out.
- step_vs_forget_items: the median optimizer step of those same runs, the first of each left out (it
  also sets up the adapter and the optimizer). A step trains on one batch, so this should stay flat
  (b ≈ 0): a rise would be per-step work that grows with the set.
- step_vs_tokens: the fastest step after a run's first (`seq_steps` - 1 of them: one on the full
  sizes) on forget and retain passages cut to exactly T tokens (plain text, loss on every token): what
  longer items cost per step.
- compare_vs_prompt_tokens: the Compare tab's `compare()` on a question whose chat prompt is P tokens,
  with an untrained LoRA adapter on the model as the pair (before = adapters off, as after any LoRA
  run): one batched greedy generation of both rows (32 new tokens) and one probe forward per model,
  the best of `repeats`. P stays under the tab's 160-token cap, past which the tab cuts the prompt.
- audit_vs_items and audit_vs_neighbours: `run_audit`, before (adapters off) and after, on N items of
  fictitious_authors' forget and holdout splits (a forget set with its own holdout, as the audit
  pairs them by default) or K REMIND neighbours per strength. To keep the points affordable the
  fixed-cost extras are off (adversarial probes, relearning, 2-D surfaces, quantization, the TOFU
  utility sets) and there is no retain split, which would add the same per-item work once more
  (more seconds, the same exponents). GradNorm stays on, as by default. What remains per item and
  model: token statistics, truth-ratio variants, a 48-token greedy answer (batched 16 at a time),
  1 + 3K REMIND sequences and one backward.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import torch

from unlearn.audit.pipeline import AuditConfig, run_audit
from unlearn.audit.remind import RemindConfig
from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.inspection.compare import Comparison, Decoding, compare
from unlearn.model.models import LoadedModel, load_model
from unlearn.tools.bench_setup import demo_data, threads
from unlearn.tools.flops import sync_device
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import StepInfo
from unlearn.train.params import Trainable, make_trainable
from viz.scaling import fit_power

Log = Callable[[str], None]
T = TypeVar("T")
# What the Compare curve asks after its filler: a count keeps greedy decoding going for all 32 new
# tokens, so the generation's length does not change with the prompt's (the curve reports it).
ASK = "Count from one to fifty."


@dataclass(frozen=True)
class ScalingSizes:
    forget_items: tuple[int, ...] = (8, 16, 32)  # one-epoch runs: 2, 4, 8 steps of batch 4
    seq_tokens: tuple[int, ...] = (32, 64, 128, 256)
    seq_steps: int = 2  # steps per length; the first is not timed, the fastest of the others kept
    prompt_tokens: tuple[int, ...] = (40, 60, 90, 135)  # chat-prompt tokens, under the tab's 160 cap
    audit_items: tuple[int, ...] = (2, 4, 8)  # per split, at K = audit_k[0]
    audit_k: tuple[int, ...] = (2, 4, 8)  # at audit_items[0] items per split
    batch_size: int = 4
    repeats: int = 2  # of each Compare point, the best kept; runs and audits, long, are timed once
    threads: int | None = 1  # torch intra-op threads (see the module's docstring)


FULL = ScalingSizes()
# A 2-layer toy for the tests: enough points to fit, seconds in all
QUICK = ScalingSizes((8, 16, 32), (16, 32, 64), 3, (40, 70, 120), (2, 3, 4), (2, 3, 4), 4, 1, 1)


def _curve(title: str, x_label: str, points: Sequence[tuple[int, float]], **detail: Any) -> dict[str, Any]:
    """One curve of the result, with its fitted exponent and any `detail` lists beside the points."""
    xs, ts = [p[0] for p in points], [p[1] for p in points]
    _, b = fit_power(xs, ts)
    curve = {"title": title, "x_label": x_label, "x": xs, "seconds": [round(t, 4) for t in ts], "exponent": round(b, 3)}
    return curve | detail


def _run_spec(sz: ScalingSizes, steps: int = 0, max_length: int = 256) -> RunSpec:
    """`python -m unlearn run`'s defaults (NPO, quick preset, LoRA r=8) without live curves; `steps` 0:
    one epoch over the forget set."""
    spec = RunSpec(mode="lora", eval_every=0)
    spec.loop = replace(spec.loop_config(), steps=steps, epochs=1.0, batch_size=sz.batch_size, max_length=max_length)
    return spec


def clock(device: torch.device) -> Callable[[], float]:
    """The clock the curves are read on (see the module's docstring)."""
    return time.process_time if device.type == "cpu" else time.perf_counter


def _timed(lm: LoadedModel, fn: Callable[[], T]) -> tuple[float, T]:
    """(seconds of `fn()` on `clock`, its value)."""
    now = clock(lm.device)
    t0 = now()
    value = fn()
    sync_device(lm.device)
    return now() - t0, value


def _timed_run(
    lm: LoadedModel, spec: RunSpec, forget: list[Example], retain: list[Example]
) -> tuple[float, list[float]]:
    """(seconds of the whole run, the seconds of each optimizer step but the first, which also pays the
    adapter's and the optimizer's set-up); the adapter is removed afterwards."""
    now = clock(lm.device)
    ends: list[float] = []  # the clock as each step ends

    def on_step(_: StepInfo) -> None:
        sync_device(lm.device)
        ends.append(now())

    seconds, out = _timed(lm, lambda: run_unlearning(lm, spec, forget, retain, [], on_step=on_step))
    out.trainable.reset()
    return seconds, [b - a for a, b in zip(ends, ends[1:], strict=False)]


def passages(texts: Sequence[str], tokenizer: Any, tokens: int, n: int) -> list[Example]:
    """`n` plain passages of at least `tokens` tokens: the set's texts joined, passage i starting at the
    i-th text so no two are the same. A run's max_length then cuts each to exactly the length wanted."""
    out = []
    for i in range(n):
        parts, j = [], i
        while len(tokenizer(" ".join(parts))["input_ids"]) <= tokens:
            parts.append(texts[j % len(texts)])
            j += 1
        out.append(Example("", " ".join(parts)))
    return out


def sized_question(tokenizer: Any, tokens: int, filler: Sequence[str]) -> tuple[Example, int]:
    """A question whose chat prompt has at least `tokens` tokens (words of `filler` before `ASK`,
    added one at a time), with a short gold answer; and the prompt's actual length."""
    words = " ".join(filler).split()
    for n_words in range(len(words) + 1):
        ex = Example(" ".join([*words[:n_words], ASK]), "one, two, three, four, five")
        enc = encode(tokenizer, ex, max_length=100_000)
        n_prompt = len(enc.input_ids) - enc.n_answer_tokens
        if n_prompt >= tokens:
            return ex, n_prompt
    raise ValueError(f"not enough filler text for a {tokens}-token prompt")


def _compare_seconds(lm: LoadedModel, pair: Trainable, ex: Example, repeats: int = 1) -> tuple[float, int]:
    """The fastest of `repeats` Compare presses, and the tokens the after side generated."""

    def press() -> Comparison:
        before, pairing = pair.reference, pair.side_by_side
        return compare(lm.model, lm.tokenizer, before, ex, Decoding(), True, "scaling", side_by_side=pairing)

    seconds, c = min((_timed(lm, press) for _ in range(repeats)), key=lambda r: r[0])
    return seconds, len(lm.tokenizer(c.after.generation, add_special_tokens=False)["input_ids"])


def _audit_config(items: int, k: int, **extra: Any) -> AuditConfig:
    """The audit's defaults without its fixed-cost extras (see the module's docstring)."""
    return AuditConfig(
        remind=RemindConfig(k=k),
        max_items=items,
        probe_items=0,
        relearn=None,
        surface_items=0,
        quantize_bits=(),
        utility_items=0,
        **extra,
    )


def _audit_seconds(lm: LoadedModel, pair: Trainable, sets: dict[str, list[Example]], cfg: AuditConfig) -> float:
    return _timed(lm, lambda: run_audit(lm.model, lm.tokenizer, sets, pair.reference, cfg))[0]


def _training_curves(lm: LoadedModel, sz: ScalingSizes, log: Log) -> dict[str, dict[str, Any]]:
    data = demo_data()
    # untimed: the first run pays the allocator's and the kernels' one-off set-up
    _timed_run(lm, _run_spec(sz, steps=1), data.forget[: sz.batch_size], data.retain_train)
    runs, steps = [], []
    for n in sz.forget_items:
        seconds, step_s = _timed_run(lm, _run_spec(sz), data.forget[:n], data.retain_train)
        # the median, not the fastest: the larger sets have more steps, and the fastest of more
        # draws would fall with the set's size even if no step got any faster
        runs.append((n, seconds))
        steps.append((n, statistics.median(step_s)))
        log(f"one-epoch run on {n} forget items: {seconds:.2f} s (median step {steps[-1][1]:.2f} s)")
    longest = max(sz.seq_tokens)
    forget = passages([e.answer for e in data.forget], lm.tokenizer, longest, sz.batch_size)
    retain = passages([e.answer for e in data.retain_train], lm.tokenizer, longest, sz.batch_size)
    by_length = []
    for t in sz.seq_tokens:
        _, step_s = _timed_run(lm, _run_spec(sz, sz.seq_steps, max_length=t), forget, retain)
        step = min(step_s)  # the same number of steps at every length: the fastest is fair
        by_length.append((t, step))
        log(f"step on {sz.batch_size} + {sz.batch_size} passages of {t} tokens: {step:.2f} s")
    return {
        "run_vs_forget_items": _curve("Unlearning run (1 epoch)", "forget items", runs),
        "step_vs_forget_items": _curve("Unlearning step", "forget items", steps),
        "step_vs_tokens": _curve("Unlearning step", "tokens per item", by_length),
    }


def _compare_curve(lm: LoadedModel, pair: Trainable, sz: ScalingSizes, log: Log) -> dict[str, Any]:
    filler = [e.question + " " + e.answer for e in load_selection("harry_potter").examples]
    prompts: list[tuple[int, float]] = []
    generated: list[int] = []  # should not change along the curve (see ASK)
    _compare_seconds(lm, pair, sized_question(lm.tokenizer, 0, filler)[0])  # untimed: one-off set-up
    for target in sz.prompt_tokens:
        ex, n = sized_question(lm.tokenizer, target, filler)
        if prompts and n <= prompts[-1][0]:  # the template alone was longer than the target
            continue
        seconds, n_new = _compare_seconds(lm, pair, ex, sz.repeats)
        prompts.append((n, seconds))
        generated.append(n_new)
        log(f"compare, {n}-token prompt: {seconds:.2f} s ({n_new} tokens generated per side)")
    return _curve("Compare (before and after)", "prompt tokens", prompts, generated_tokens=generated)


def _audit_curves(lm: LoadedModel, pair: Trainable, sz: ScalingSizes, log: Log) -> dict[str, dict[str, Any]]:
    sets = {s: load_selection(f"fictitious_authors:{s}").examples for s in ("forget", "holdout")}
    k0, n0 = sz.audit_k[0], sz.audit_items[0]
    # untimed and short: the first audit loads ROUGE, scipy and scikit-learn, which are imported on
    # first use, and runs the first batched generate; the first point would pay for them
    _audit_seconds(lm, pair, sets, _audit_config(2, 2, max_new_tokens=4))
    by_items, by_k = [], []
    for n in sz.audit_items:
        by_items.append((n, _audit_seconds(lm, pair, sets, _audit_config(n, k0))))
        log(f"audit, {n} items per split, K = {k0}: {by_items[-1][1]:.1f} s")
    for k in sz.audit_k:
        # (n0, k0) is the first point of the curve above
        seconds = by_items[0][1] if k == k0 else _audit_seconds(lm, pair, sets, _audit_config(n0, k))
        by_k.append((k, seconds))
        log(f"audit, {n0} items per split, K = {k}: {seconds:.1f} s")
    return {
        "audit_vs_items": _curve(f"Audit (K = {k0})", "items per split", by_items),
        "audit_vs_neighbours": _curve(f"Audit ({n0} items per split)", "REMIND neighbours K", by_k),
    }


def _inspection_curves(lm: LoadedModel, sz: ScalingSizes, log: Log) -> dict[str, dict[str, Any]]:
    pair = make_trainable(lm.model, "lora", None, 8)  # untrained: the pair's cost, not a run's effect
    try:
        return {"compare_vs_prompt_tokens": _compare_curve(lm, pair, sz, log), **_audit_curves(lm, pair, sz, log)}
    finally:
        pair.reset()


def run_scaling(model_ref: str, device: str | None = None, quick: bool = False, log: Log = print) -> dict[str, Any]:
    """Every curve of the module's docstring on `model_ref`; `log` hears one line per point."""
    sz = QUICK if quick else FULL
    t0 = time.perf_counter()
    with threads(sz.threads):
        lm = load_model(model_ref, device=device)
        curves = {**_training_curves(lm, sz, log), **_inspection_curves(lm, sz, log)}
    for name, c in curves.items():
        log(f"{name}: exponent {c['exponent']:.2f} ({c['x_label']} {c['x'][0]} to {c['x'][-1]})")
    return {
        "curves": curves,
        "clock": "CPU time of this process (one torch thread)" if lm.device.type == "cpu" else "wall time",
        "device": str(lm.device),
        "model": lm.name,
        "quick": quick,
        "wall_seconds": round(time.perf_counter() - t0, 1),  # the whole measurement, on the wall clock
    }
