"""One audit of an unlearning run: the same forget / retain / holdout items scored before and after
by every single-point metric, every membership-inference attack and REMIND.

All scores come from three passes per split and model: `token_stats` (one forward per batch, for
LOSS / zlib / Min-K% / Min-K%++ and the memorisation metrics), the truth-ratio variants (one more
batched scoring) and REMIND's landscapes (one stacked batch per item), plus greedy generations for
ROUGE-L. "Before" is the same model inside the run's `reference()`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .adversarial import run_probes
from .examples import Example
from .honesty import multiple_choice, rates
from .mia import TokenStats, auc, reference_score, scores, token_stats
from .params import Trainable
from .relearn import RelearnConfig, relearn
from .remind import FEATURES, Landscape, RemindConfig, landscape
from .remind_classify import Separation, separate
from .remind_surface import Surface, SurfaceConfig, surfaces
from .retain_model import compare_with_retain_model
from .scoring import answer_nll, generate_answers
from .tofu_metrics import item_metrics, model_utility, truth_ratio_score, variants

SPLITS = ("forget", "retain", "holdout")
ATTACKS = ("loss", "zlib", "min_k", "min_k_pp")
Progress = Callable[[str], None]


@dataclass
class AuditConfig:
    remind: RemindConfig = field(default_factory=RemindConfig)
    k: float = 0.4  # Min-K% / Min-K%++ share
    max_items: int | None = 20  # per split (None: all)
    max_new_tokens: int = 48  # greedy answers for ROUGE-L
    classifier: str = "logistic"  # REMIND's headline classifier ("forest" is reported beside it)
    probe_items: int = 6  # forget items asked each adversarial probe (0: no probes); each probe is a generation
    relearn: RelearnConfig | None = field(default_factory=RelearnConfig)  # None: no relearning attack
    surface_items: int = 2  # forget items given a 2-D surface (p × m) before and after; each is ~100 sequences
    surface: SurfaceConfig = field(default_factory=SurfaceConfig)
    retain_model: tuple[PreTrainedModel, PreTrainedTokenizerBase] | None = None  # trained without the forget set


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
    extra: dict[str, Any] = field(default_factory=dict)  # honesty, probes, relearning: flat figures
    surfaces: dict[str, list[Surface]] = field(default_factory=dict)  # side -> the first forget items' surfaces

    def attack_aucs(self, side: str) -> dict[str, float]:
        """Forget (members) vs holdout (never trained on) ROC-AUC of each attack under one model."""
        s = getattr(self, side)
        return {a: auc(s["forget"].attacks[a], s["holdout"].attacks[a]) for a in ATTACKS}

    def reference_auc(self) -> float:
        ref = {sp: reference_score(self.before[sp].stats, self.after[sp].stats) for sp in ("forget", "holdout")}
        return auc(ref["forget"], ref["holdout"])

    def summary(self) -> dict[str, Any]:
        """The headline numbers as one flat dict (the CLI's JSON)."""
        out: dict[str, Any] = {"items": {s: len(v) for s, v in self.items.items()}}
        out["remind_auc"] = self.remind_binary.auc["forget"]
        out["remind_tpr_at_1pct"] = self.remind_binary.tpr_at_1pct["forget"]
        for name, sep in self.remind.items():
            out[f"remind_{name}_macro_auc"] = sep.macro_auc
        for side in ("before", "after"):
            for attack, value in self.attack_aucs(side).items():
                out[f"{attack}_auc_{side}"] = value
        out["mink_pp_auc_before"], out["mink_pp_auc_after"] = out["min_k_pp_auc_before"], out["min_k_pp_auc_after"]
        out["reference_auc"] = self.reference_auc()
        for side in ("before", "after"):
            s = getattr(self, side)
            for split in self.items:
                for metric, values in s[split].metrics.items():
                    if metric == "truth_ratio":
                        finite = values[np.isfinite(values)]
                        v = truth_ratio_score(finite, split == "forget") if len(finite) else float("nan")
                    else:
                        v = float(np.mean(values))
                    out[f"{split}_{metric}_{side}"] = v
            r = s["retain"].metrics if "retain" in s else None
            if r is not None:
                parts = [out[f"retain_probability_{side}"], out[f"retain_rouge_l_{side}"]]
                if np.isfinite(out[f"retain_truth_ratio_{side}"]):
                    parts.append(out[f"retain_truth_ratio_{side}"])
                out[f"model_utility_{side}"] = model_utility(parts)
        out["forget_quality"] = None  # needs a model trained without the forget set (cfg.retain_model)
        for side in ("before", "after"):
            for split in ("forget", "retain"):
                if split in self.items:
                    for name, value in rates(getattr(self, side)[split].generations).items():
                        out[f"{split}_{name}_{side}"] = value
        return {**out, **self.extra}


def _side(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Example],
    cfg: AuditConfig,
    say: Progress,
    where: str,
) -> SideScores:
    stats = token_stats(model, tokenizer, items)
    flat, _, _ = variants(items)
    variant_losses = answer_nll(model, tokenizer, flat)
    qa = [e.question for e in items]
    say(f"{where}: greedy answers (ROUGE-L)")
    gens = generate_answers(model, tokenizer, qa, cfg.max_new_tokens) if all(qa) else [""] * len(items)
    land = landscape(
        model, tokenizer, items, cfg.remind, progress=lambda i, n: say(f"{where}: REMIND landscape {i} / {n}")
    )
    return SideScores(stats, gens, item_metrics(items, stats, gens, variant_losses), scores(stats, items, cfg.k), land)


def run_audit(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, Sequence[Example]],
    before: Callable[[], AbstractContextManager[Any]] = nullcontext,
    cfg: AuditConfig | None = None,
    progress: Progress | None = None,
    trainable: Trainable | None = None,
) -> AuditResult:
    """Score `sets` ({"forget": ..., "retain": ..., "holdout": ...}) before (inside `before()`) and after.
    With the run's `trainable`, also the relearning attack (its weights are restored afterwards).
    `progress` is told every stage and item; an exception it raises (Cancel) stops the audit, and
    every context manager on the way out puts the model back as it was."""
    cfg = cfg or AuditConfig()
    say = progress or (lambda _: None)
    missing = [s for s in ("forget", "holdout") if not sets.get(s)]
    if missing:
        raise ValueError(f"an audit needs a forget set and a holdout set (never trained on); missing: {missing}")
    items = {s: list(v)[: cfg.max_items] for s, v in sets.items() if s in SPLITS and v}
    sides: dict[str, dict[str, SideScores]] = {"before": {}, "after": {}}
    for side, ctx in (("before", before), ("after", nullcontext)):
        with ctx():
            for split, exs in items.items():
                n_seq = len(exs) * (1 + cfg.remind.k * len(cfg.remind.strengths))
                say(f"{side}: scoring {len(exs)} {split} items (REMIND: {n_seq} sequences)")
                sides[side][split] = _side(model, tokenizer, exs, cfg, say, f"{side}, {split}")
    surf: dict[str, list[Surface]] = {}
    shown = items["forget"][: cfg.surface_items]
    if shown:
        for side, ctx in (("before", before), ("after", nullcontext)):
            say(f"{side}: 2-D loss surfaces of {len(shown)} forget items")
            with ctx():
                surf[side] = surfaces(model, tokenizer, shown, cfg.surface)
    extra: dict[str, Any] = {}
    forget, retain = items["forget"], items.get("retain", [])
    if cfg.probe_items:
        for side, ctx in (("before", before), ("after", nullcontext)):
            say(f"{side}: adversarial probes on {min(cfg.probe_items, len(forget))} forget items")
            with ctx():
                probed = run_probes(
                    model, tokenizer, forget[: cfg.probe_items], retain, max_new_tokens=32, progress=say
                )
                mc = multiple_choice(model, tokenizer, forget) if any(e.perturbed_answers for e in forget) else {}
            for kind, row in probed.items():
                extra[f"probe_{kind}_rouge_l_{side}"] = row["rouge_l"]
                extra[f"probe_{kind}_keyword_hit_{side}"] = row["keyword_hit"]
            for name, value in mc.items():
                extra[f"forget_{name}_{side}"] = value
    if cfg.relearn is not None and trainable is not None and len(forget) >= 2:
        say(f"relearning attack: {cfg.relearn.steps} steps")
        rel = relearn(
            model, tokenizer, trainable, forget, cfg.relearn, lambda i, pr: say(f"relearning step {i}: P̃ {pr:.3f}")
        )
        extra.update({f"relearn_{k}": v for k, v in rel.items()})
    if cfg.retain_model is not None:
        say("retain-only model: forget quality and PrivLeak")
        unlearned = sides["after"]["forget"].metrics["truth_ratio"]
        aucs = {a: auc(sides["after"]["forget"].attacks[a], sides["after"]["holdout"].attacks[a]) for a in ATTACKS}
        extra.update(compare_with_retain_model(*cfg.retain_model, forget, items["holdout"], unlearned, aucs, cfg.k))
    labels = np.array([s for s in items for _ in items[s]])
    feats = np.concatenate([sides["after"][s].land.features(cfg.remind.p) for s in items])
    assert feats.shape[1] == len(FEATURES)
    remind = {c: separate(feats, labels, c) for c in ("logistic", "forest")}
    binary = labels != "retain"
    binary_sep = separate(feats[binary], labels[binary], cfg.classifier)
    return AuditResult(items, sides["before"], sides["after"], remind, binary_sep, cfg, extra, surf)
