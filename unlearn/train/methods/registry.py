"""Method registry: each method is one small file that registers itself by name.

A method declares what it is (`MethodInfo`), its hyperparameters (a dataclass whose defaults are
the quick-demo values for the bundled model on a CPU, with the paper's values in field metadata),
and its loss. The training loop never names a method.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

import torch
from transformers import PreTrainedModel

from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.model.span_forward import scoring_logits
from unlearn.train.gradients import GradRule, grads_of, split_grads
from unlearn.train.losses import sequence_nll
from unlearn.train.params import Trainable

Batch = dict[str, torch.Tensor]


def hp(quick: Any, paper: Any, help: str) -> Any:
    """A hyperparameter: quick-demo default, the paper's default, and one line of help."""
    return field(default=quick, metadata={"paper": paper, "help": help})


@dataclass(frozen=True)
class MethodInfo:
    id: str
    name: str
    paper: str  # citation with arXiv id
    summary: str  # what it optimises, in one or two sentences
    needs_retain: bool
    faithful: bool = True  # False: a reconstruction from the paper's description
    needs_refusals: bool = False
    subset: str | None = None  # regex of the parameters the method trains in "subset" mode
    subset_label: str = ""  # the same in words, for the method card
    lora_only: bool = False  # works on LoRA adapters only (REGLU initialises them)
    lora_targets: tuple[str, ...] | None = None  # modules given adapters (None: every projection)
    training_free: bool = False  # edits weights once from statistics (EditMethod), no loss and no loop
    lr: float = 1e-4  # quick-demo learning rate that works on the bundled model
    paper_lr: float = 1e-5

    def lr_for(self, preset: str) -> float:
        """The learning rate a preset starts with: the quick demo's or the paper's (the one place the
        rule is written: the app, the command line and RunSpec ask here)."""
        if preset not in ("quick", "paper"):
            raise UserError(f"unknown preset {preset!r}; valid: quick, paper")
        return self.lr if preset == "quick" else self.paper_lr

    @property
    def default_mode(self) -> str:
        """The parameters trained unless the user picks others: the method's own subset where its paper
        trains one (RMU: `mlp.down_proj` of layers l−2..l), else LoRA adapters."""
        return "subset" if self.subset and not self.lora_only else "lora"


@dataclass(frozen=True)
class StepBatch:
    """What one call of a method's loss is about: one micro-batch of the step about to be taken.

    `forget` and `retain` are the padded tensors (`retain` None when the run has no retain set);
    `forget_examples` and `retain_examples` the raw examples behind them (empty when there are none),
    for methods that build other batches from them (refusals, wrong answers); `step` the 1-based
    optimizer step this micro-batch belongs to, for methods that draw per step. The engine builds
    one per micro-batch; a method reads nothing per-step from its `Context`."""

    forget: Batch
    retain: Batch | None = None
    forget_examples: list[Example] = field(default_factory=list)
    retain_examples: list[Example] = field(default_factory=list)
    step: int = 1


@dataclass
class Context:
    """What a loss may use for the whole run: the model being unlearned, a way to ask the reference
    (θ₀), a way to encode other examples (e.g. refusals), and the run's forget set and seed. What
    changes from call to call (the batches, their examples, the step) comes in a `StepBatch`."""

    model: PreTrainedModel
    trainable: Trainable
    encode: Callable[[list[Example]], Batch] | None = None  # examples -> padded batch on the device
    refusals: list[str] = field(default_factory=list)  # "I don't know" answers (IdK methods)
    grad_rule: GradRule | None = None  # e.g. the GU retain-orthogonal projection, for any method
    all_forget: list[Example] = field(default_factory=list)  # every forget item the run trains on
    seed: int = 0  # run seed, for methods that draw random targets (RMU's u, random labels)
    # log π_θ₀(y|x) of each forget item, keyed by (question, answer): the engine's before-measurement
    # scores every forget item under the reference anyway, so a step need not score them again
    reference_logprobs: dict[tuple[str, str], float] = field(default_factory=dict)

    def answer_logits(self, batch: Batch, reference: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits over the batch's answer window and the labels aligned with them (forward.py);
        `reference=True`: of the model before the run, without gradients."""
        # rows that open alike (a chat template's system prompt) run their shared opening once (prefix.py)
        if not reference:
            return scoring_logits(self.model, batch)
        with torch.no_grad(), self.reference():
            return scoring_logits(self.model, batch)

    def reference_logprob(self, batch: Batch, examples: Sequence[Example]) -> torch.Tensor:
        """log π_θ₀(y|x) per row of `batch` (B,), whose rows are `examples`: read from
        `reference_logprobs` when it holds every one of them, else one reference forward. The kept
        figures come from the same encoding (the run's max length) scored in other batches, so they
        agree with a fresh forward to float rounding (tests/test_reference_logprobs.py)."""
        keys = [(e.question, e.answer) for e in examples]
        if keys and len(keys) == len(batch["labels"]) and all(k in self.reference_logprobs for k in keys):
            return torch.tensor([self.reference_logprobs[k] for k in keys], device=batch["labels"].device)
        nll, _ = sequence_nll(*self.answer_logits(batch, reference=True))
        return -nll

    @contextmanager
    def reference(self) -> Iterator[None]:
        with self.trainable.reference():
            yield


class Method(ABC):
    info: ClassVar[MethodInfo]
    Config: ClassVar[type]

    def __init__(self, cfg: Any, ctx: Context) -> None:
        self.cfg, self.ctx = cfg, ctx
        self.rule = self.own_rule(cfg)  # a method's own gradient combination (BLUR, OFMU), else None

    @classmethod
    def own_rule(cls, cfg: Any) -> GradRule | None:
        """The method's own way of combining g_f and g_r (gradients.py); None: it adds them."""
        return None

    def terms(self, b: StepBatch) -> tuple[torch.Tensor, torch.Tensor, dict[str, float]]:
        """The forget part and the retain part of the loss on `b` (each already weighted: γ·L_f, α·L_r;
        the retain part is `self.zero()` when `b.retain` is None), and the values to log.

        A method defines either this or the pair `forget_part` / `retain_part`, whose two forwards
        share no graph: those are back-propagated one after the other (see `backward`)."""
        lf, logs_f = self.forget_part(b)
        lr, logs_r = self.retain_part(b)
        return lf, lr, {**logs_f, **logs_r}

    def forget_part(self, b: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Optional: the weighted forget part alone and its logs (with `retain_part`, in place of `terms`).
        `register` refuses a method that gives neither this pair nor `terms`, so the base is never called."""
        raise NotImplementedError(f"{type(self).__name__}.forget_part: give it together with retain_part")

    def retain_part(self, b: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """Optional: the weighted retain part alone (`self.zero()` when `b.retain` is None) and its logs."""
        raise NotImplementedError(f"{type(self).__name__}.retain_part: give it together with forget_part")

    @classmethod
    def splits(cls) -> bool:
        """Whether the method gives its two parts apart (`forget_part` / `retain_part`)."""
        return cls.forget_part is not Method.forget_part and cls.retain_part is not Method.retain_part

    def loss(self, b: StepBatch) -> tuple[torch.Tensor, dict[str, float]]:
        """The method's loss on one forget batch (and retain batch), and the terms to log."""
        lf, lr, logs = self.terms(b)
        return lf + lr, logs

    def backward(self, b: StepBatch, scale: float = 1.0) -> tuple[float, dict[str, float]]:
        """Accumulate scale·gradient into the trained tensors' `.grad`; return the loss and logs.
        With a gradient rule (the method's own, or the GU switch in the context) the forget and
        retain gradients are taken apart and combined by the rule (gradients.py).

        A method that gives its parts apart is back-propagated part by part: the forget part's
        backward runs before the retain part's forward, so a step holds one part's activations at a
        time rather than both (the same gradient, summed in another order; issue 19's memory target)."""
        if self.splits():
            return self._backward_by_part(b, scale)
        lf, lr, logs = self.terms(b)
        loss = lf + lr
        rule = self.rule or self.ctx.grad_rule
        if rule is None or not torch.isfinite(loss):
            (loss * scale).backward()  # a non-finite loss is reported by the loop, not combined
            return float(loss.detach()), logs
        params = [p for p in self.ctx.trainable.params if p.requires_grad]
        g_f, g_r = split_grads(lf, lr, params)
        return float(loss.detach()), {**logs, **self._apply_rule(rule, g_f, g_r, params, scale)}

    def _backward_by_part(self, b: StepBatch, scale: float) -> tuple[float, dict[str, float]]:
        rule = self.rule or self.ctx.grad_rule
        params = [p for p in self.ctx.trainable.params if p.requires_grad]
        lf, logs_f = self.forget_part(b)
        if rule is None or not torch.isfinite(lf):
            if lf.requires_grad:
                (lf * scale).backward()
            g_f = None
        else:
            g_f = grads_of(lf, params)
        lf_value = float(lf.detach())  # the forget graph is gone before the retain forward
        del lf
        lr, logs_r = self.retain_part(b)
        loss, logs = lf_value + float(lr.detach()), {**logs_f, **logs_r}
        if g_f is None or not torch.isfinite(lr):  # a non-finite loss is reported by the loop, not combined
            if g_f is not None:
                self._accumulate(params, g_f, scale)
            if lr.requires_grad:
                (lr * scale).backward()
            return loss, logs
        return loss, {**logs, **self._apply_rule(rule, g_f, grads_of(lr, params), params, scale)}

    @staticmethod
    def _apply_rule(rule: GradRule, g_f: Any, g_r: Any, params: list[torch.nn.Parameter], scale: float) -> dict:
        combined, rule_logs = rule.combine(g_f, g_r)
        Method._accumulate(params, combined, scale)
        return rule_logs

    @staticmethod
    def _accumulate(params: list[torch.nn.Parameter], grads: Any, scale: float) -> None:
        for p, g in zip(params, grads, strict=True):
            p.grad = scale * g if p.grad is None else p.grad + scale * g

    def prepare(self, forget: list[Batch], retain: list[Batch]) -> dict[str, float]:
        """Hook before the first step, with the whole forget and retain sets as batches (e.g. REGLU's
        adapter initialisation); returns what to report. Default: nothing to prepare."""
        return {}

    def zero(self) -> torch.Tensor:
        """A zero loss term on the model's device (no retain part)."""
        return torch.zeros((), device=next(self.ctx.model.parameters()).device)

    def after_step(self, logs: dict[str, float], step: int) -> None:  # noqa: B027 - an optional hook, not abstract
        """Hook for state a method updates between steps (e.g. a dual variable), after optimizer
        step `step` (1-based) with the logs it reported."""

    @classmethod
    def subset_pattern(cls, cfg: Any, n_layers: int) -> str | None:
        """Regex of the parameter names the method trains in "subset" mode (None: it has none)."""
        return cls.info.subset


class EditMethod(Method):
    """A training-free method: it edits the weights of its subset once, from statistics of the
    forget and retain sets, instead of descending on a loss. The engine calls `edit`, never `terms`."""

    def terms(self, b):
        raise TypeError(f"{self.info.name} is training-free: it edits weights and has no loss to descend on")

    @abstractmethod
    def edit(self, forget: list[Batch], retain: list[Batch]) -> dict[str, float]:
        """Change the weights of `self.ctx.trainable` in place; return what to report."""


METHODS: dict[str, type[Method]] = {}


def register(cls: type[Method]) -> type[Method]:
    if cls.info.id in METHODS:
        raise ValueError(f"method {cls.info.id!r} registered twice")
    # a loss method gives `terms` or both parts; refused here, at start-up, not at its first step
    if not issubclass(cls, EditMethod) and cls.terms is Method.terms and not cls.splits():
        raise TypeError(f"method {cls.info.id!r} defines neither terms() nor both forget_part() and retain_part()")
    METHODS[cls.info.id] = cls
    return cls


def get_method(method_id: str) -> type[Method]:
    if method_id not in METHODS:
        raise UserError(f"unknown method {method_id!r}; valid: {', '.join(sorted(METHODS))}")
    return METHODS[method_id]


def config_for(method_id: str, preset: str = "quick", **overrides: Any) -> Any:
    """The method's hyperparameters: `quick` (demo) or `paper` defaults, then `overrides`."""
    cls = get_method(method_id).Config
    names = {f.name for f in fields(cls)}
    bad = set(overrides) - names
    if bad:
        raise UserError(f"{method_id} has no hyperparameter {sorted(bad)}; valid: {sorted(names)}")
    if preset not in ("quick", "paper"):
        raise UserError(f"unknown preset {preset!r}; valid: quick, paper")
    cfg = cls()
    if preset == "paper":
        cfg = replace(cfg, **{f.name: f.metadata["paper"] for f in fields(cls) if "paper" in f.metadata})
    return replace(cfg, **overrides)


def describe(method_id: str) -> dict[str, Any]:
    """JSON-ready description: info, and each hyperparameter with both defaults and help."""
    cls = get_method(method_id)
    params = [
        {
            "name": f.name,
            "quick": f.default if f.default is not MISSING else None,
            "paper": f.metadata.get("paper"),
            "help": f.metadata.get("help", ""),
        }
        for f in fields(cls.Config)
    ]
    info = asdict(cls.info)
    own = cls.info.subset_label or f"`{cls.info.subset}`"
    if cls.info.lora_only:
        on = f" on {', '.join(cls.info.lora_targets)}" if cls.info.lora_targets else ""
        info["parameters_trained"] = f"LoRA adapters{on} only"
    elif cls.info.training_free:
        info["parameters_trained"] = f"{own}, edited in place (no training)"
    elif cls.info.subset:
        info["parameters_trained"] = f"its own subset (default, as in its paper): {own}; or LoRA, or full"
    else:
        info["parameters_trained"] = "LoRA (default) or full"
    return {**info, "default_mode": cls.info.default_mode, "hyperparameters": params}
