"""One unlearning run: a registered method, the loop, and before/after measurements.

The engine knows methods only through the registry. Probabilities are length-normalised answer
probabilities, geometric mean over a set (scoring.set_prob). The retain figures are measured on
retain items the run does not train on, so they show what the model kept, not what the retain loss
re-taught.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .builtin import refusals
from .examples import Example
from .loop import LoopConfig, StepInfo, cycle_batches, seed_everything, train_loop
from .methods import Context, config_for, get_method
from .models import LoadedModel
from .params import Trainable, make_trainable
from .prompts import collate, encode
from .recompute import recompute_activations
from .scoring import answer_nll, set_prob


@dataclass
class RunSpec:
    method: str = "npo"
    preset: str = "quick"  # "quick" (demo on the bundled model, CPU) or "paper" defaults
    hparams: dict[str, Any] = field(default_factory=dict)  # overrides of the method's hyperparameters
    mode: str = "lora"  # "lora", "full", or "subset" (the method's own parameters, e.g. RMU)
    lora_r: int = 8
    loop: LoopConfig | None = None  # None: the method's quick / paper learning rate, 12 steps
    # forget / retain items scored after each step for the live curves: 8 + 8 cost ~1.2 s a step on
    # the bundled model on 2 CPU cores (16 + 16: 2.5 s, a third of the quick demo's time)
    eval_items: int = 8
    eval_every: int = 1  # steps between live measurements (0 = none)
    low_memory: bool = False  # recompute activations in backward (recompute.py): less memory, slower

    def loop_config(self) -> LoopConfig:
        if self.loop is not None:
            return self.loop
        info = get_method(self.method).info
        return LoopConfig(lr=info.lr if self.preset == "quick" else info.paper_lr, steps=12, batch_size=8)


@dataclass
class RunOutcome:
    spec: dict[str, Any]
    hparams: dict[str, Any]
    trainable: Trainable
    history: list[dict[str, float]]
    metrics: dict[str, float]
    cancelled: bool
    seconds: float


def _probs(lm: LoadedModel, forget: list[Example], retain_eval: list[Example], max_length: int) -> tuple[float, float]:
    f = set_prob(answer_nll(lm.model, lm.tokenizer, forget, max_length=max_length)) if forget else float("nan")
    r = (
        set_prob(answer_nll(lm.model, lm.tokenizer, retain_eval, max_length=max_length))
        if retain_eval
        else float("nan")
    )
    return f, r


def run_unlearning(
    lm: LoadedModel,
    spec: RunSpec,
    forget: list[Example],
    retain_train: list[Example],
    retain_eval: list[Example],
    on_step: Callable[[StepInfo], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunOutcome:
    """Unlearn `forget` from `lm` in place. On return the model is "after"; `outcome.trainable`
    gives "before" (`reference()`) and undoes the run (`reset()`). A cancelled run keeps the whole
    steps it finished, and says so in `outcome.cancelled`."""
    cls = get_method(spec.method)
    hparams = config_for(spec.method, spec.preset, **spec.hparams)
    loop = spec.loop_config()
    loop.validate()
    if not forget:
        raise ValueError("the forget set is empty: pick a forget set with at least one item")
    if cls.info.needs_retain and not retain_train:
        raise ValueError(f"{cls.info.name} needs a retain set to train on: pick one")
    t0 = time.perf_counter()
    f0, r0 = _probs(lm, forget, retain_eval, loop.max_length)
    pattern = cls.subset_pattern(hparams, lm.model.config.num_hidden_layers)
    seed_everything(loop.seed)  # the LoRA initialisation is random too: same seed, same run
    trainable = make_trainable(lm.model, spec.mode, pattern, spec.lora_r)
    pad = lm.tokenizer.pad_token_id

    def encode_batch(items: list[Example]) -> dict[str, torch.Tensor]:
        return collate([encode(lm.tokenizer, e, loop.max_length) for e in items], pad, lm.device)

    def batch(items: list[Example] | None) -> dict[str, torch.Tensor] | None:
        return encode_batch(items) if items else None

    ctx = Context(lm.model, trainable, encode=encode_batch, refusals=refusals(), seed=loop.seed)
    method = cls(hparams, ctx)

    retain_iter = (
        cycle_batches(retain_train, loop.batch_size, loop.seed + 1) if retain_train else itertools.repeat(None)
    )
    pairs = zip(cycle_batches(forget, loop.batch_size, loop.seed), retain_iter, strict=False)  # both endless
    sample_f, sample_r = forget[: spec.eval_items], retain_eval[: spec.eval_items]

    def loss_fn(pair: tuple[list[Example], list[Example] | None]) -> tuple[torch.Tensor, dict[str, float]]:
        ctx.forget_examples, ctx.retain_examples = pair[0], pair[1] or []
        return method.loss(batch(pair[0]), batch(pair[1]))

    def report(s: StepInfo) -> None:
        method.after_step(s.logs)
        ctx.step = s.step + 1
        if spec.eval_every and (s.step % spec.eval_every == 0 or s.step == s.total):
            s.logs["forget_prob"], s.logs["retain_prob"] = _probs(lm, sample_f, sample_r, loop.max_length)
        if on_step:
            on_step(s)

    ctx.step = 1
    total = loop.total_steps(len(forget))
    try:
        with recompute_activations(lm.model, spec.low_memory):
            result = train_loop(trainable.params, loss_fn, pairs, loop, total, lm.device, report, should_stop)
    except BaseException:
        trainable.reset()  # a failed run leaves the model exactly as it was before
        raise
    for p in trainable.params:
        p.requires_grad_(False)
    f1, r1 = _probs(lm, forget, retain_eval, loop.max_length)
    metrics = {
        "forget_prob_before": f0,
        "forget_prob_after": f1,
        "retain_prob_before": r0,
        "retain_prob_after": r1,
        "trained_parameters": trainable.n_trained(),
    }
    spec_d = asdict(spec)
    spec_d["loop"] = asdict(loop)
    return RunOutcome(
        spec_d, asdict(hparams), trainable, result.history, metrics, result.cancelled, time.perf_counter() - t0
    )
