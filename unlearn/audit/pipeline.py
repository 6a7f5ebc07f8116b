"""One audit of an unlearning run: the same forget / retain / holdout items scored before and after
by every single-point metric, every membership-inference attack and REMIND, plus TOFU's model
utility on Real Authors and World Facts, and the attacks that try to bring the knowledge back
(adversarial probes, relearning, quantization).

Most scores come from two passes per split and model: REMIND's landscapes (one stacked batch per
item, whose row 0 is the item itself: its token statistics for LOSS / zlib / Min-K% / Min-K%++ and the
memorisation metrics are read there, `mia.logit_stats`) and the truth-ratio variants (one more
batched scoring), plus greedy generations for
ROUGE-L (one batched call per side for every set) and one backward per 8 items for GradNorm
(ghost_norm.py). "Before" is the same model inside the run's `reference()`. The flat headline figures are
built in audit_summary.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.adversarial import run_probes
from unlearn.audit.audit_meter import SECONDS, Meter, side_plan
from unlearn.audit.gradnorm import gradient_norms, gradnorm_scores
from unlearn.audit.honesty import multiple_choice
from unlearn.audit.mia import TokenStats, auc, change_score, reference_score, scores
from unlearn.audit.quant_attack import knowledge_figures, quantization_attack
from unlearn.audit.relearn import RelearnConfig, relearn
from unlearn.audit.remind import FEATURES, Landscape, RemindConfig, landscape
from unlearn.audit.remind_classify import Separation, separate
from unlearn.audit.remind_surface import Surface, SurfaceConfig, surfaces
from unlearn.audit.retain_model import RetainModelScores, forget_ratios, quality_figures, score_retain_model
from unlearn.audit.tofu_metrics import item_metrics, variants
from unlearn.audit.utility import NORMALISED, evaluation_metrics
from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.inspection.patching import Patching, patch_item
from unlearn.model.host_memory import trim as trim_host_memory
from unlearn.model.scoring import answer_nll, generate_answers
from unlearn.settings import setting
from unlearn.train.params import Trainable

SPLITS = ("forget", "retain", "holdout")
EVAL_SETS = NORMALISED  # TOFU's Real Authors and World Facts: scored for model utility only
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp", "gradnorm")  # gradnorm only where cfg.gradnorm
Progress = Callable[[str], None]


@dataclass
class AuditConfig:
    remind: RemindConfig = field(default_factory=RemindConfig)
    k: float = 0.4  # Min-K% / Min-K%++ share
    max_items: int | None = setting(
        20, "Items per split", "forget, retain and holdout items scored", lo=4, hi=200, flag="--items"
    )
    max_new_tokens: int = 48  # greedy answers for ROUGE-L
    classifier: str = "logistic"  # REMIND's headline classifier ("forest" is reported beside it)
    probe_items: int = setting(  # each probe is a generation
        6, "Forget items per adversarial probe", "forget items asked each adversarial probe (0: none)", lo=0, hi=20
    )
    relearn: RelearnConfig | None = field(default_factory=RelearnConfig)  # None: no relearning attack
    surface_items: int = setting(  # ~90 sequences a side, ~20 s on 2 CPU cores for the bundled model (issue 19)
        1,
        "Forget items with a 2-D surface",
        "a loss surface over p × m, before and after",
        lo=0,
        hi=10,
        flag="--surfaces",
    )
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    retain_model: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None  # trained without the forget set
    quality_items: int | None = None  # forget items in TOFU's forget-quality KS test (None: every one)
    utility_items: int | None = None  # Real Authors / World Facts items scored for model utility (None: all; 0: none)
    gradnorm: bool = True  # the GradNorm attack: one backward per forget and holdout item and model
    # quantization attack's bit widths (empty: none): 4 is arXiv 2410.16454's attack, 8 a control to ask for
    quantize_bits: tuple[int, ...] = (4,)
    patch_items: int = setting(  # each is ~600 patched forwards of the item (inspection/patching.py)
        0,
        "Forget items patched",
        "activation patching before <-> after on the first forget items, every layer (a minute or two each "
        "for a 135M model on 2 CPU cores)",
        lo=0,
        hi=10,
        flag="--patch-items",
    )


@dataclass
class SideScores:
    """One split under one model."""

    stats: list[TokenStats]
    generations: list[str]
    metrics: dict[str, np.ndarray]  # TOFU per-item metrics
    attacks: dict[str, np.ndarray]  # membership scores (higher = member)
    land: Landscape


@dataclass
class AuditResult:
    items: dict[str, list[Example]]
    before: dict[str, SideScores]
    after: dict[str, SideScores]
    remind: dict[str, Separation]  # classifier -> 3-way separation on the after model
    remind_binary: Separation  # forget vs holdout only, comparable with the attacks' AUCs
    cfg: AuditConfig
    extra: dict[str, Any] = field(default_factory=dict)  # honesty, probes, relearning, quantization: flat figures
    surfaces: dict[str, list[Surface]] = field(default_factory=dict)  # side -> the first forget items' surfaces
    evaluation: dict[str, dict[str, dict[str, np.ndarray]]] = field(default_factory=dict)  # side -> set -> metrics
    evaluation_items: dict[str, int] = field(default_factory=dict)  # Real Authors / World Facts: items scored
    retain_model: RetainModelScores | None = None
    quality: dict[str, Any] = field(default_factory=dict)  # forget quality and its sample sizes
    seconds: dict[str, float] = field(default_factory=dict)  # stage ("after:forget:remind", ...) -> wall seconds
    patching: list[Patching] = field(default_factory=list)  # the first forget items' activation patching

    def attacks(self) -> list[str]:
        return [a for a in ATTACKS if a in self.after["forget"].attacks]

    def attack_aucs(self, side: str) -> dict[str, float]:
        """Forget (members) vs holdout (never trained on) ROC-AUC of each attack under one model."""
        s = getattr(self, side)
        return {a: auc(s["forget"].attacks[a], s["holdout"].attacks[a]) for a in self.attacks()}

    def change_scores(self) -> dict[str, np.ndarray]:
        """L̄_after − L̄_before on forget and holdout: how much the run moved each item (not an attack)."""
        return {sp: change_score(self.before[sp].stats, self.after[sp].stats) for sp in ("forget", "holdout")}

    def reference_scores(self, side: str) -> dict[str, np.ndarray] | None:
        """The reference attack under one model: L̄_retain-only − L̄_target (None without that model)."""
        if self.retain_model is None:
            return None
        s = getattr(self, side)
        return {sp: reference_score(s[sp].stats, self.retain_model.stats[sp]) for sp in ("forget", "holdout")}

    def summary(self) -> dict[str, Any]:
        """The headline numbers as one flat dict (the CLI's JSON)."""
        from unlearn.audit.audit_summary import (
            summarise,  # the summary reads this class; imported here to avoid a cycle
        )

        return summarise(self)


def _side(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Example],
    cfg: AuditConfig,
    say: Meter,
    side: str,
    split: str,
    gradnorm: bool,
    gens: list[str] | None,
) -> SideScores:
    where, key = f"{side}, {split}", f"{side}:{split}"  # run_audit entered the stage `key`
    flat, _, _ = variants(items)
    variant_losses = answer_nll(model, tokenizer, flat)
    gens = gens if gens is not None else [""] * len(items)  # passages: no question to answer
    say.stage(f"{key}:remind")
    land = landscape(
        model, tokenizer, items, cfg.remind, progress=lambda i, n: say(f"{where}: REMIND landscape {i} / {n}", (i, n))
    )
    # each item's own token statistics come from REMIND's forward of the item itself (its landscape's
    # centre), not from a forward of their own: the same logits, float rounding aside
    stats = land.stats
    attacks = scores(stats, items, cfg.k)
    if gradnorm:
        say.stage(f"{key}:gradnorm")
        norms = gradient_norms(
            model, tokenizer, items, progress=lambda i, n: say(f"{where}: GradNorm {i} / {n}", (i, n))
        )
        attacks["gradnorm"] = gradnorm_scores(norms)
    return SideScores(stats, gens, item_metrics(items, stats, gens, variant_losses), attacks, land)


def _greedy_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, list[Example]],
    cfg: AuditConfig,
    say: Meter,
    side: str,
) -> dict[str, list[str]]:
    """Greedy answers (ROUGE-L) to every question of every set that has questions, in one batched
    generation for the side: a decode step's fixed cost is paid once per batch (scoring.py), so one
    call for the splits and utility sets together is quicker than one per set."""
    asked = {name: [e.question for e in exs] for name, exs in sets.items() if all(e.question for e in exs)}
    questions = [q for qs in asked.values() for q in qs]
    say.stage(f"{side}:greedy")
    say(f"{side}: greedy answers to {len(questions)} questions (ROUGE-L)")

    def heard(done: int, n: int) -> None:
        say(f"{side}: greedy answers {done} / {n}", (done, n))

    answers = iter(generate_answers(model, tokenizer, questions, cfg.max_new_tokens, on_batch=heard))
    return {name: [next(answers) for _ in qs] for name, qs in asked.items()}


def _attack_extras(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: dict[str, list[Example]],
    before: Callable[[], AbstractContextManager[Any]],
    cfg: AuditConfig,
    say: Meter,
    trainable: Trainable | None,
    sides: dict[str, dict[str, SideScores]],
) -> dict[str, Any]:
    """Adversarial probes, multiple choice, relearning and quantization: flat figures."""
    extra: dict[str, Any] = {}
    forget, retain = items["forget"], items.get("retain", [])
    if cfg.probe_items:
        for side, ctx in (("before", before), ("after", nullcontext)):
            say.stage(f"{side}:probes")
            say(f"{side}: adversarial probes on {min(cfg.probe_items, len(forget))} forget items")
            with ctx():
                probed = run_probes(
                    model, tokenizer, forget[: cfg.probe_items], retain, max_new_tokens=32, progress=say
                )
                say.stage(f"{side}:honesty")  # timed apart: the audit reports its parts
                mc = multiple_choice(model, tokenizer, forget) if any(e.perturbed_answers for e in forget) else {}
            for kind, row in probed.items():
                extra[f"probe_{kind}_rouge_l_{side}"] = row["rouge_l"]
                extra[f"probe_{kind}_keyword_hit_{side}"] = row["keyword_hit"]
            for name, value in mc.items():
                extra[f"forget_{name}_{side}"] = value
        extra["probe_items_n"] = min(cfg.probe_items, len(forget))
    if cfg.relearn is not None and trainable is not None and len(forget) >= 2:
        say.stage("relearn")
        say(f"relearning attack: {cfg.relearn.steps} steps")
        rel = relearn(
            model, tokenizer, trainable, forget, cfg.relearn, lambda i, pr: say(f"relearning step {i}: P̃ {pr:.3f}")
        )
        extra.update({f"relearn_{k}": v for k, v in rel.items()})
    if cfg.quantize_bits:
        say.stage("quantize")
        qa = all(e.question for e in forget)  # the forget set's own before / after figures, already measured
        baseline = {
            side: knowledge_figures(
                forget, [t.loss for t in s["forget"].stats], s["forget"].generations if qa else None
            )
            for side, s in sides.items()
        }
        extra.update(
            quantization_attack(
                model, tokenizer, forget, retain, before, cfg.quantize_bits, cfg.max_new_tokens, say, baseline
            )
        )
    return extra


def _patching(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: list[Example],
    before: Callable[[], AbstractContextManager[Any]],
    say: Meter,
) -> list[Patching]:
    """Activation patching before <-> after on each of `items` (the model is "after" here)."""
    if not items:
        return []
    say.stage("patching")
    out = []
    for j, ex in enumerate(items, 1):

        def heard(done: int, total: int, j: int = j) -> None:
            say(f"activation patching: item {j} / {len(items)}, {done} / {total} patched rows", (j - 1, len(items)))

        out.append(patch_item(model, tokenizer, ex, before, progress=heard))
    return out


def _plan(
    items: dict[str, list[Example]],
    evals: dict[str, list[Example]],
    cfg: AuditConfig,
    surfaces_n: int,
    quality_n: int,
    trainable: Trainable | None,
) -> dict[str, float]:
    """The audit's stages and their modelled costs (audit_meter.py), in the order they run."""
    n_seq = 1 + cfg.remind.k * len(cfg.remind.strengths)
    forget = items["forget"]
    plan: dict[str, float] = {}
    for side in ("before", "after"):
        asked = [exs for exs in items.values() if all(e.question for e in exs)] + list(evals.values())
        plan[f"{side}:greedy"] = sum(len(exs) for exs in asked) * SECONDS["answer"]
        for split, exs in items.items():
            plan |= side_plan(side, split, len(exs), n_seq, cfg.gradnorm and split != "retain")
        for name, exs in evals.items():
            plan[f"{side}:{name}"] = len(exs) * SECONDS["utility_item"]
    for side in ("before", "after"):
        plan[f"{side}:surfaces"] = surfaces_n * SECONDS["surface_item"]
    for side in ("before", "after"):
        plan[f"{side}:probes"] = min(cfg.probe_items, len(forget)) * SECONDS["probe_item"]
        if cfg.probe_items:  # multiple choice runs beside the probes, over every forget item that has choices
            plan[f"{side}:honesty"] = sum(bool(e.perturbed_answers) for e in forget) * SECONDS["choice_item"]
    if cfg.relearn is not None and trainable is not None and len(forget) >= 2:
        plan["relearn"] = SECONDS["relearn"]
    plan["quantize"] = len(cfg.quantize_bits) * len(forget) * SECONDS["quantized_item"]
    if cfg.retain_model is not None:
        plan["retain_model"] = (len(forget) + len(items["holdout"]) + quality_n) * SECONDS["reference_item"]
    return plan


def run_audit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, Sequence[Example]],
    before: Callable[[], AbstractContextManager[Any]] = nullcontext,
    cfg: AuditConfig | None = None,
    progress: Progress | None = None,
    trainable: Trainable | None = None,
) -> AuditResult:
    """Score `sets` ({"forget", "retain", "holdout"}, and optionally TOFU's "real_authors" and
    "world_facts" for model utility) before (inside `before()`) and after. With the run's
    `trainable`, also the relearning attack (its weights are restored afterwards). `progress` is told
    every stage and item; an exception it raises (Cancel) stops the audit, and every context manager
    on the way out puts the model back as it was."""
    cfg = cfg or AuditConfig()
    if any(not 2 <= b <= 16 for b in cfg.quantize_bits):
        raise UserError(f"quantization bit widths must be between 2 and 16, got {list(cfg.quantize_bits)}")
    for name, n in (("forget-quality items", cfg.quality_items), ("utility items", cfg.utility_items)):
        if n is not None and n < (1 if name.startswith("forget") else 0):
            raise UserError(f"{name} must be a positive number of items (or left out for all), got {n}")
    missing = [s for s in ("forget", "holdout") if not sets.get(s)]
    if missing:
        raise UserError(f"an audit needs a forget set and a holdout set (never trained on); missing: {missing}")
    items = {s: list(v)[: cfg.max_items] for s, v in sets.items() if s in SPLITS and v}
    evals = {s: list(sets[s])[: cfg.utility_items] for s in EVAL_SETS if sets.get(s) and cfg.utility_items != 0}
    shown = items["forget"][: cfg.surface_items]
    patched_items = [e for e in items["forget"] if e.is_qa][: cfg.patch_items]
    tested = list(sets["forget"])[: cfg.quality_items]
    plan = _plan(items, evals, cfg, len(shown), len(tested), trainable)
    plan |= {"patching": len(patched_items) * SECONDS["patch_item"]} if patched_items else {}
    say = Meter(plan, progress or (lambda _: None))
    sides: dict[str, dict[str, SideScores]] = {"before": {}, "after": {}}
    evaluation: dict[str, dict[str, dict[str, np.ndarray]]] = {"before": {}, "after": {}}
    for side, ctx in (("before", before), ("after", nullcontext)):
        with ctx():
            gens = _greedy_answers(model, tokenizer, items | evals, cfg, say, side)
            for split, exs in items.items():
                say.stage(f"{side}:{split}")
                n_seq = len(exs) * (1 + cfg.remind.k * len(cfg.remind.strengths))
                say(f"{side}: scoring {len(exs)} {split} items (REMIND: {n_seq} sequences)")
                grad = cfg.gradnorm and split != "retain"  # the attack compares forget with holdout
                sides[side][split] = _side(model, tokenizer, exs, cfg, say, side, split, grad, gens.get(split))
            for name, exs in evals.items():
                say.stage(f"{side}:{name}")
                say(f"{side}: model utility on {len(exs)} {name.replace('_', ' ')} items")
                evaluation[side][name] = evaluation_metrics(model, tokenizer, exs, cfg.max_new_tokens, gens.get(name))
    surf: dict[str, list[Surface]] = {}
    if shown:
        for side, ctx in (("before", before), ("after", nullcontext)):
            say.stage(f"{side}:surfaces")
            say(f"{side}: 2-D loss surfaces of {len(shown)} forget items")
            with ctx():
                # the first forget items' REMIND neighbours at its rank and strengths are cells of their surfaces
                land = sides[side]["forget"].land
                surf[side] = surfaces(model, tokenizer, shown, cfg.surface, land, cfg.remind.m)
    patching = _patching(model, tokenizer, patched_items, before, say)
    extra = _attack_extras(model, tokenizer, items, before, cfg, say, trainable, sides)
    retain_scores, quality = None, {}
    if cfg.retain_model is not None:
        say.stage("retain_model")
        say(f"retain-only model: reference losses, PrivLeak, forget quality on {len(tested)} forget items")
        retain_scores = score_retain_model(
            *cfg.retain_model, items["forget"], items["holdout"], tested, cfg.k, gradnorm=cfg.gradnorm
        )
        # the audited forget items' ratios under the after model are there already: score only the rest
        audited = sides["after"]["forget"].metrics["truth_ratio"]
        rest = forget_ratios(model, tokenizer, tested[len(audited) :]) if len(tested) > len(audited) else []
        quality = quality_figures(np.concatenate([audited[: len(tested)], rest]), retain_scores.ratios)
    say.stage("remind:classify")  # REMIND's classifiers on the after model's landscape features
    labels = np.array([s for s in items for _ in items[s]])
    feats = np.concatenate([sides["after"][s].land.features(cfg.remind.p) for s in items])
    assert feats.shape[1] == len(FEATURES)
    remind = {c: separate(feats, labels, c) for c in ("logistic", "forest")}
    binary = labels != "retain"
    binary_sep = separate(feats[binary], labels[binary], cfg.classifier)
    trim_host_memory()  # the relearning steps' and batches' freed memory goes back to the system (host_memory.py)
    return AuditResult(
        items,
        sides["before"],
        sides["after"],
        remind,
        binary_sep,
        cfg,
        extra,
        surf,
        evaluation,
        {k: len(v) for k, v in evals.items()},
        retain_scores,
        quality,
        say.seconds(),
        patching,
    )
