"""Time the default audit of a saved run, part by part, against its REMIND forwards.

The audit is the one `python -m unlearn audit` and the Audit tab run with their defaults (20 items
per split, K = 15 neighbours per strength, 6 probed forget items, 1 loss surface, the relearning
attack, GradNorm, 4-bit quantization), on TOFU-shaped data so that every part has work:
the built-in fictitious_authors forget / retain / holdout splits (they carry paraphrased and
perturbed answers, so the truth ratio and the multiple-choice honesty check run) and TOFU's Real
Authors and World Facts capped at the same 20 items (model utility). The run audited is the bench's
quick demo run: what the audit costs does not depend on what the run forgot.

audit_vs_remind_ratio = the whole audit's wall time / the wall time of its REMIND stages (every
split's neighbour sequences scored, before and after): issue 19's target is at most 1.5, i.e. every
other part together at most half of what REMIND's forwards cost. The parts come from the audit's own
stage clock (`audit_meter.Meter.seconds`), so they add up to the whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unlearn.audit.audit_meter import audit_parts
from unlearn.audit.pipeline import AuditConfig, run_audit
from unlearn.audit.relearn import RelearnConfig
from unlearn.audit.remind import RemindConfig
from unlearn.data.builtin import load_selection, utility_sets
from unlearn.model.models import LoadedModel
from unlearn.train.runs import apply_run

AUDIT_SETS = {
    "forget": "fictitious_authors:forget",
    "retain": "fictitious_authors:retain",
    "holdout": "fictitious_authors:holdout",
}


@dataclass(frozen=True)
class AuditSizes:
    items: int | None = None  # items per split (None: the audit's default)
    k: int | None = None  # REMIND neighbours per strength (None: the default)
    probe_items: int | None = None
    surface_items: int | None = None
    relearn_steps: int | None = None


# The quick bench (tests, tiny models): every part present, each as small as it can be.
QUICK_AUDIT = AuditSizes(items=4, k=2, probe_items=1, surface_items=1, relearn_steps=1)


def bench_config(sz: AuditSizes) -> AuditConfig:
    """The audit's defaults, with whichever sizes `sz` sets."""
    cfg = AuditConfig()
    if sz.items is not None:
        cfg.max_items = sz.items
    if sz.k is not None:
        cfg.remind = RemindConfig(k=sz.k)
    if sz.probe_items is not None:
        cfg.probe_items = sz.probe_items
    if sz.surface_items is not None:
        cfg.surface_items = sz.surface_items
    if sz.relearn_steps is not None:
        cfg.relearn = RelearnConfig(steps=sz.relearn_steps)
    return cfg


def time_audit(lm: LoadedModel, run_dir: Path, sz: AuditSizes = AuditSizes()) -> dict[str, Any]:
    """One default audit of the saved run: its total, its parts and the ratio to its REMIND stages."""
    cfg = bench_config(sz)
    sets = {k: load_selection(v).examples for k, v in AUDIT_SETS.items()}
    sets |= utility_sets(cfg.max_items)  # model utility on as many items as each split has
    tr = apply_run(lm, run_dir)
    try:
        t0 = time.perf_counter()
        result = run_audit(lm.model, lm.tokenizer, sets, tr.reference, cfg, trainable=tr)
        total = time.perf_counter() - t0
    finally:
        tr.reset()
    parts = audit_parts(result.seconds)
    return {
        "audit_seconds": total,
        "audit_remind_seconds": parts.get("remind", 0.0),
        "audit_vs_remind_ratio": total / parts["remind"],
        "audit_items": cfg.max_items,
        "audit_k": cfg.remind.k,
        **{f"audit_{name}_seconds": s for name, s in sorted(parts.items()) if name != "remind"},
    }
