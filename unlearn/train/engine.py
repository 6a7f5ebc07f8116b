"""One unlearning run: a registered method, the loop, and before/after measurements.

The engine knows methods only through the registry. Probabilities are length-normalised answer
probabilities, geometric mean over a set (scoring.set_prob). The retain figures are measured on
retain items the run does not train on, so they show what the model kept, not what the retain loss
re-taught.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from unlearn.data.batching import encode_batch
from unlearn.data.builtin import refusals
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.errors import UserError
from unlearn.model.devices import split_refusal
from unlearn.model.host_memory import trim as trim_host_memory
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import set_prob
from unlearn.settings import setting
from unlearn.train.compiled import compiled_layers
from unlearn.train.distributed import DataParallel
from unlearn.train.distributed import describe as describe_parallel
from unlearn.train.gradients import RetainProjection
from unlearn.train.loop import DEMO_STEPS, LoopConfig, LoopResult, StepInfo, cycle_batches, seed_everything, train_loop
from unlearn.train.memory_plan import RunShape, check_run_fits, out_of_memory
from unlearn.train.methods import Context, EditMethod, Method, StepBatch, config_for, get_method
from unlearn.train.params import Trainable, check_rank, make_trainable
from unlearn.train.recompute import recompute_activations
from unlearn.train.selection import coreset, entity_pairs
from unlearn.train.set_probs import item_nll, set_probs
from unlearn.train.sharding import ShardedTrainable
from unlearn.train.stop_rule import StopRule, StopWatch


@dataclass
class RunSpec:
    method: str = "npo"
    preset: str = "quick"  # "quick" (demo on the bundled model, CPU) or "paper" defaults
    hparams: dict[str, Any] = field(default_factory=dict)  # overrides of the method's hyperparameters
    mode: str | None = None  # "lora", "full", "subset" (the method's own, e.g. RMU's); None: the method's default
    lora_r: int = setting(8, "LoRA rank", "rank of the LoRA adapters (when LoRA adapters are trained)", lo=1)
    loop: LoopConfig | None = None  # None: the method's quick / paper learning rate, 12 steps
    # forget / retain items scored after each step for the live curves: 8 + 8 cost ~1.2 s a step on
    # the bundled model on 2 CPU cores (16 + 16: 2.5 s, a third of the quick demo's time)
    eval_items: int = 8
    eval_every: int = setting(1, "Measure every k steps", "steps between live probability measurements (0: none)")
    # recompute activations in backward (recompute.py)
    low_memory: bool = setting(
        False, "Low memory", "recompute activations during backward: a fraction of the memory, ~30% slower"
    )
    # compiled.py: the compile itself takes a minute or so
    compile: bool = setting(False, "Compile", "compile the decoder layers: faster GPU steps, after about a minute")
    project_retain: int = setting(
        0,
        "GU: retain gradients projected out (k)",
        "0 = off. Removes from the forget gradient its part in the span of the last k retain gradients "
        "(arXiv 2511.17100; without the paper's Adam preconditioning)",
        lo=0,
        flag="--gu",
    )
    coreset: float = setting(  # selection.py
        1.0,
        "Coreset: share of the forget set trained on",
        "a share in (0, 1]; the forget set is still measured whole (arXiv 2504.10185)",
        lo=0.05,
        hi=1.0,
    )
    coreset_mode: str = setting(
        "random", "Coreset selection", "which items the coreset keeps", choices=("random", "keyword")
    )
    melu: bool = setting(  # selection.py
        False,
        "MELU: entity by entity (reconstruction)",
        "one entity's items per batch, its neighbours first (needs the entity column)",
    )
    save_every: int = setting(
        0,
        "Keep the weights every k steps (0 = off)",
        "each kept step can be compared and audited; LoRA adapters are small, full copies not",
        lo=0,
    )
    stop_forget: float | None = setting(  # stop_rule.py
        None,
        "Stop once forget P̃ ≤ this share of before (0 = off)",
        "e.g. 0.1: stop at the first step that took the forget set to 10% of before",
        start=0.0,
    )
    keep_retain: float | None = setting(
        None,
        "Keep held-out retain P̃ ≥ this share of before (0 = off)",
        "e.g. 0.9: the step that takes retain below 90% is undone and the run stops",
        start=0.0,
    )

    def loop_config(self) -> LoopConfig:
        if self.loop is not None:
            return self.loop
        info = get_method(self.method).info
        return LoopConfig(lr=info.lr_for(self.preset), steps=DEMO_STEPS, batch_size=8)

    def check(self, method: type[Method], hparams: Any, has_retain: bool, has_retain_eval: bool = True) -> None:
        """Reject option combinations no run can honour, with what to change."""
        info = method.info
        if not 0 < self.coreset <= 1:  # also NaN, which every comparison would let through
            raise UserError(f"the coreset share must be above 0 and at most 1, got {self.coreset}")
        if self.project_retain < 0:
            raise UserError(f"the GU projection keeps k ≥ 0 retain gradients, got {self.project_retain}")
        if info.training_free and (self.project_retain or self.melu or self.low_memory):
            raise UserError(
                f"{info.name} is training-free (no gradients, no batches): turn off the GU projection, "
                "MELU sampling and low memory"
            )
        if info.lora_only and self.mode != "lora":
            raise UserError(f"{info.name} works on LoRA adapters: pick 'LoRA adapters' as the parameters trained")
        if self.project_retain and not has_retain:
            raise UserError("the GU projection needs a retain set (it removes the retain gradients' span)")
        if self.project_retain and method.own_rule(hparams) is not None:
            raise UserError(f"{info.name} already combines the forget and retain gradients: turn off GU")
        if not 0 <= self.save_every <= 100_000:
            raise UserError(f"save every k steps: k must be 0 (off) or a whole number of steps, got {self.save_every}")
        self.stop_rule().check(has_retain_eval)

    def stop_rule(self) -> StopRule:
        return StopRule(self.stop_forget, self.keep_retain)


@dataclass
class RunOutcome:
    spec: dict[str, Any]
    hparams: dict[str, Any]
    trainable: Trainable
    history: list[dict[str, float]]
    metrics: dict[str, Any]
    cancelled: bool
    seconds: float
    checkpoints: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)  # step -> trained tensors (CPU)
    stop: dict[str, Any] | None = None  # where and why the stop rule ended the run (StopWatch.stopped)


def _batches(
    items: list[Example], encode_items: Callable[[list[Example]], dict[str, torch.Tensor]], batch_size: int
) -> list[dict[str, torch.Tensor]]:
    return [encode_items(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def _edit(
    method: EditMethod,
    forget: list[Example],
    retain: list[Example],
    encode_items: Callable[[list[Example]], dict[str, torch.Tensor]],
    batch_size: int,
    report: Callable[[StepInfo], None],
) -> LoopResult:
    """A training-free method's single edit, reported as one step."""
    t0 = time.perf_counter()

    logs = {
        k: float(v)
        for k, v in method.edit(
            _batches(forget, encode_items, batch_size), _batches(retain, encode_items, batch_size)
        ).items()
    }
    for p in method.ctx.trainable.params:
        p.grad = None
    info = StepInfo(1, 1, 0.0, logs, time.perf_counter() - t0)
    report(info)
    history = [{"step": 1, "lr": 0.0, "seconds": info.seconds, **info.logs}]
    return LoopResult(1, 1, False, time.perf_counter() - t0, history, "no optimizer: edited in place")


MEASURED_ITEMS = 2000  # items whose length sets the memory estimate (the longest of the first ones)


def _lengths(lm: LoadedModel, forget: list[Example], retain: list[Example], max_length: int) -> tuple[int, int]:
    """Tokens of the longest item a batch may hold (at most `max_length`), and the widest answer
    window a batch may need: from the earliest answer start to the latest end (forward.answer_window)."""
    items = forget[:MEASURED_ITEMS] + retain[:MEASURED_ITEMS]
    encoded = [encode(lm.tokenizer, e, max_length) for e in items]
    if not encoded:
        return max_length, max_length
    longest = max(len(e.input_ids) for e in encoded)
    first_answer = min(len(e.input_ids) - e.n_answer_tokens for e in encoded)
    return longest, longest - max(first_answer - 1, 0)


def run_unlearning(
    lm: LoadedModel,
    spec: RunSpec,
    forget: list[Example],
    retain_train: list[Example],
    retain_eval: list[Example],
    on_step: Callable[[StepInfo], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
    parallel: DataParallel | None = None,
) -> RunOutcome:
    """Unlearn `forget` from `lm` in place. On return the model is "after"; `outcome.trainable`
    gives "before" (`reference()`) and undoes the run (`reset()`). A cancelled run keeps the whole
    steps it finished, and says so in `outcome.cancelled`."""
    if lm.split:
        raise UserError(split_refusal("unlearn"))
    cls = get_method(spec.method)
    if spec.mode is None:
        spec = replace(spec, mode=cls.info.default_mode)
    hparams = config_for(spec.method, spec.preset, **spec.hparams)
    loop = spec.loop_config()
    loop.validate()
    if parallel is not None:
        parallel.check_batch(loop.batch_size)
    if not forget:
        raise UserError("the forget set is empty: pick a forget set with at least one item")
    if cls.info.needs_retain and not retain_train:
        raise UserError(f"{cls.info.name} needs a retain set to train on: pick one")
    spec.check(cls, hparams, bool(retain_train), bool(retain_eval))
    train_forget = coreset(forget, spec.coreset, spec.coreset_mode, loop.seed) if spec.coreset < 1 else list(forget)
    t0 = time.perf_counter()
    # the model as it is now is the run's reference: its log-probabilities of the forget items are kept
    reference: dict[tuple[str, str], float] = {}
    f0, r0 = set_probs(lm, forget, retain_eval, loop.max_length, reference)
    pattern = cls.subset_pattern(hparams, lm.model.config.num_hidden_layers)
    mode = "subset" if cls.info.training_free else spec.mode  # an edit method changes its own tensors
    seed_everything(loop.seed)  # the LoRA initialisation is random too: same seed, same run
    targets = list(cls.info.lora_targets) if cls.info.lora_targets else None
    tokens, answer = _lengths(lm, train_forget, retain_train, loop.max_length)
    shards = parallel.size if parallel is not None and parallel.sharded else 1
    shape = RunShape(mode, pattern, spec.lora_r, targets, loop.batch_size, tokens, spec.low_memory, answer, shards)
    if mode == "lora":  # an impossible rank gets its own message, not a memory estimate in exabytes
        check_rank(lm.model, spec.lora_r)
    if not cls.info.training_free:  # an edit holds no optimizer, gradients or activations for backward
        check_run_fits(lm.model, shape, lm.device)
    trainable = make_trainable(lm.model, mode, pattern, spec.lora_r, targets)
    if parallel is not None and parallel.sharded:
        trainable = ShardedTrainable(trainable, parallel.size)

    def encode_items(items: list[Example]) -> dict[str, torch.Tensor]:
        return encode_batch(items, lm.tokenizer, loop.max_length, lm.device)

    def batch(items: list[Example] | None) -> dict[str, torch.Tensor] | None:
        return encode_items(items) if items else None

    ctx = Context(lm.model, trainable, encode=encode_items, refusals=refusals(), seed=loop.seed)
    ctx.reference_logprobs = reference
    ctx.all_forget = train_forget
    ctx.grad_rule = RetainProjection(spec.project_retain) if spec.project_retain else None
    method = cls(hparams, ctx)
    sample_f, sample_r = forget[: spec.eval_items], retain_eval[: spec.eval_items]

    prepared: dict[str, float] = {}  # what a method's prepare() reported: shown with step 1
    rule = spec.stop_rule()
    watch = StopWatch(rule, trainable.params, f0, r0) if rule.active else None
    checkpoints: dict[int, dict[str, torch.Tensor]] = {}
    end: list[float] = []  # the whole sets' P̃ (forget, retain) measured at the last step, if it was reached
    next_step = 1  # the optimizer step the next micro-batches belong to (1-based): each StepBatch carries it

    def report(s: StepInfo) -> None:
        nonlocal next_step
        if s.step == 1:
            s.logs.update(prepared)
        method.after_step(s.logs, s.step)
        next_step = s.step + 1
        decision = None
        if watch is not None:  # the rule reads the whole sets, and the curves show the same figures
            s.logs["forget_prob"], s.logs["retain_prob"] = set_probs(lm, forget, retain_eval, loop.max_length)
            decision = watch.after_step(s.step, s.logs["forget_prob"], s.logs["retain_prob"])
        elif spec.eval_every and s.step == s.total:
            # the run's last weights: the whole sets are measured once for the end figures, and the curve's
            # last point is read from the same scores (the sample is the sets' first items)
            f, r = item_nll(lm, forget, retain_eval, loop.max_length)
            end[:] = [set_prob(f), set_prob(r)]
            s.logs["forget_prob"], s.logs["retain_prob"] = set_prob(f[: len(sample_f)]), set_prob(r[: len(sample_r)])
        elif spec.eval_every and s.step % spec.eval_every == 0:
            s.logs["forget_prob"], s.logs["retain_prob"] = set_probs(lm, sample_f, sample_r, loop.max_length)
        if decision == "retain":
            s.logs["undone"] = 1.0
        elif spec.save_every and s.step % spec.save_every == 0:
            checkpoints[s.step] = trainable.changed()
        if on_step:
            on_step(s)

    def stop_now() -> bool:
        return (should_stop is not None and should_stop()) or (watch is not None and watch.should_stop())

    try:
        if isinstance(method, EditMethod):
            result = _edit(method, train_forget, retain_train, encode_items, loop.batch_size, report)
        else:
            if spec.melu:
                pairs: Iterator[Any] = entity_pairs(train_forget, retain_train, loop.batch_size, loop.seed)
            else:
                retain_iter = (
                    cycle_batches(retain_train, loop.batch_size, loop.seed + 1)
                    if retain_train
                    else itertools.repeat(None)
                )
                pairs = zip(cycle_batches(train_forget, loop.batch_size, loop.seed), retain_iter, strict=False)

            def backward_fn(pair: tuple[list[Example], list[Example] | None], scale: float):
                forget_b, retain_b = (parallel.shard(pair[0]), parallel.shard(pair[1])) if parallel else pair
                b = StepBatch(batch(forget_b), batch(retain_b), forget_b, retain_b or [], next_step)
                return method.backward(b, scale)

            if type(method).prepare is not Method.prepare:  # e.g. REGLU's adapter initialisation
                bs = loop.batch_size
                prepared.update(
                    method.prepare(_batches(train_forget, encode_items, bs), _batches(retain_train, encode_items, bs))
                )
            total = loop.total_steps(len(train_forget))
            with recompute_activations(lm.model, spec.low_memory), compiled_layers(lm.model, spec.compile):
                result = train_loop(
                    trainable.params,
                    None,
                    pairs,
                    loop,
                    total,
                    lm.device,
                    report,
                    stop_now,
                    backward_fn=backward_fn,
                    parallel=parallel,
                )
    except torch.OutOfMemoryError as e:
        trainable.reset()
        raise out_of_memory(lm.device, shape) from e
    except BaseException:
        trainable.reset()  # a failed run leaves the model exactly as it was before
        raise
    trim_host_memory()  # the steps' freed activations go back to the system, not kept for good (host_memory.py)
    if isinstance(trainable, ShardedTrainable):
        trainable.gather()  # on every process: the main one saves the run without the others
    for p in trainable.params:
        p.requires_grad_(False)
    stopped = watch.stopped if watch is not None else None
    # a step the rule undid is not in the history: the weights are those of the step before it
    history = result.history[:-1] if stopped and stopped["undone"] else result.history
    cancelled = result.cancelled and stopped is None  # the rule ended it, not Cancel
    # with the stop rule the whole sets were measured after every step: the last kept figures are the end's
    if watch is not None:
        f1, r1 = watch.kept
    elif end and not result.cancelled:  # measured at the last step, on these same weights
        f1, r1 = end
    else:
        f1, r1 = set_probs(lm, forget, retain_eval, loop.max_length)
    metrics = {
        "forget_prob_before": f0,
        "forget_prob_after": f1,
        "retain_prob_before": r0,
        "retain_prob_after": r1,
        "trained_parameters": trainable.n_trained(),
        "training_precision": result.precision,
        **describe_parallel(parallel, loop.batch_size, loop.grad_accum),
    }
    if stopped is not None:
        metrics["stopped_at_step"] = stopped["step"]
        metrics["stop_reason"] = watch.describe()
    spec_d = asdict(spec)
    spec_d["loop"] = asdict(loop)
    return RunOutcome(
        spec_d,
        asdict(hparams),
        trainable,
        history,
        metrics,
        cancelled,
        time.perf_counter() - t0,
        checkpoints,
        stopped,
    )
