"""An audit as plain JSON data: everything the Audit tab, the Runs tab and the HTML report draw,
so a finished audit is saved beside its run (`audit.json`) and redrawn without the model.

Non-finite numbers become `null` (strict JSON, readable by any tool and by the browser).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from unlearn.audit.adversarial import PROBES
from unlearn.audit.mia import auc, privleak, roc
from unlearn.audit.pipeline import AuditResult
from unlearn.audit.remind import FEATURES
from unlearn.audit.remind_classify import SPLITS
from unlearn.audit.remind_surface import Surface
from unlearn.inspection.patching import set_mean

AUDIT_FILE = "audit.json"
VERSION = 2  # 2: corrected figures (PrivLeak as MUSE, nine-part utility, the change score apart)


def clean(x: Any) -> Any:
    """JSON-ready: arrays to lists, numpy scalars to floats, NaN / inf to None."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return float(x) if math.isfinite(float(x)) else None
    return x


def item_label(question: str, answer: str, width: int = 70) -> str:
    text = question or answer
    return text if len(text) <= width else text[: width - 1] + "…"


def _roc_entry(members: np.ndarray, others: np.ndarray) -> dict[str, Any]:
    fpr, tpr = roc(members, others)
    return {"fpr": fpr, "tpr": tpr, "auc": auc(members, others)}


def _surface(s: Surface) -> dict[str, Any]:
    return {"own": s.own, "strengths": s.strengths, "ranks": s.ranks, "loss": s.loss, "spread": s.spread}


def _patching(result: AuditResult) -> dict[str, Any] | None:
    """The set's mean patching (the figures) and each item's two summary figures."""
    if not result.patching:
        return None
    mean = set_mean(result.patching)
    items = [e for e in result.items["forget"] if e.is_qa][: len(result.patching)]
    return {
        "components": mean.components,
        "groups": mean.groups,
        "layers": mean.layers,
        "mean": {name: getattr(mean, name) for name in ("recovery", "reverse", "single", "cumulative")},
        "items": [
            {
                "item": item_label(e.question, e.answer),
                "logp_before": p.logp_before,
                "logp_after": p.logp_after,
                "best_layer_recovery": p.best_layer_recovery(),
                "layers_for_half": p.layers_for_half(),
            }
            for e, p in zip(items, result.patching, strict=True)
        ],
    }


def to_record(result: AuditResult, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The whole audit as JSON data (see the module docstring)."""
    cfg = result.cfg
    splits = [s for s in SPLITS if s in result.items]
    labels = [s for s in splits for _ in result.items[s]]
    per_split: dict[str, Any] = {}
    for s in splits:
        per_split[s] = {
            "items": [item_label(e.question, e.answer) for e in result.items[s]],
            **{
                side: {
                    "loss": [t.loss for t in getattr(result, side)[s].stats],
                    "attacks": getattr(result, side)[s].attacks,
                    "metrics": getattr(result, side)[s].metrics,
                    "generations": getattr(result, side)[s].generations,
                    "neighbours": getattr(result, side)[s].land.neighbours,
                    "features": getattr(result, side)[s].land.features(cfg.remind.p),
                }
                for side in ("before", "after")
            },
        }
    rocs: dict[str, dict[str, Any]] = {"before": {}, "after": {}}
    for side in rocs:
        sc = getattr(result, side)
        for a in result.attacks():
            rocs[side][a] = _roc_entry(sc["forget"].attacks[a], sc["holdout"].attacks[a])
        ref = result.reference_scores(side)
        if ref is not None:  # the reference attack needs the retain-only model
            rocs[side]["reference"] = _roc_entry(ref["forget"], ref["holdout"])
    change = result.change_scores()
    rocs["after"]["change"] = _roc_entry(change["forget"], change["holdout"])
    lab = np.array(labels)
    binary = lab != "retain"
    proba = result.remind_binary.proba[:, SPLITS.index("forget")]
    rocs["after"]["remind"] = _roc_entry(proba[lab[binary] == "forget"], proba[lab[binary] == "holdout"])
    head = result.remind[cfg.classifier]
    record = {
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        **(meta or {}),
        "config": {
            "items_per_split": cfg.max_items,
            "k_share": cfg.k,
            "remind": {"p": cfg.remind.p, "m": cfg.remind.m, "k": cfg.remind.k, "strengths": cfg.remind.strengths},
            "classifier": cfg.classifier,
            "probe_items": cfg.probe_items,
            "relearn": None if cfg.relearn is None else vars(cfg.relearn),
            "gradnorm": cfg.gradnorm,
            "quantize_bits": list(cfg.quantize_bits),
            "quality_items": cfg.quality_items,
            "utility_items": cfg.utility_items,
            "patch_items": cfg.patch_items,
        },
        "summary": result.summary(),
        "strengths": cfg.remind.strengths,
        "features": FEATURES,
        "labels": labels,
        "splits": per_split,
        "roc": rocs,
        "remind": {
            name: {"proba": sep.proba, "auc": sep.auc, "tpr_at_1pct": sep.tpr_at_1pct, "macro_auc": sep.macro_auc}
            for name, sep in result.remind.items()
        },
        "verdicts": head.verdicts(lab),
        "probes": list(PROBES),
        "surfaces": [
            {
                "item": item_label(e.question, e.answer),
                "before": _surface(result.surfaces["before"][i]),
                "after": _surface(result.surfaces["after"][i]),
            }
            for i, e in enumerate(result.items["forget"][: len(result.surfaces.get("after", []))])
        ],
        "patching": _patching(result),
    }
    return clean(record)


def audit_file(run_dir: Path, step: int | None = None) -> Path:
    """`audit.json` for the run's end, `audit-step-000004.json` for a saved step."""
    return Path(run_dir) / (AUDIT_FILE if step is None else f"audit-step-{step:06d}.json")


def save_audit(run_dir: Path, record: dict[str, Any], step: int | None = None) -> Path:
    """Write the audit into a run's folder atomically (the previous audit stays whole until replaced)."""
    final = audit_file(run_dir, step)
    fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".audit-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)
    os.replace(tmp, final)
    return final


def upgrade(record: dict[str, Any]) -> dict[str, Any]:
    """A record saved by version 1 in today's names, its figures recomputed where they can be:
    its "reference" was the change score (L̄_after − L̄_before), its PrivLeak had MUSE's sign the
    other way round (recomputed from the stored AUCs), its "model utility" had only the retain parts."""
    if record.get("version", 1) >= 2:
        return record
    rec = json.loads(json.dumps(record))  # a copy: the file on disk stays as it was
    after = rec.get("roc", {}).get("after", {})
    if "reference" in after:
        after["change"] = after.pop("reference")
    s = rec.get("summary", {})
    if "reference_auc" in s:
        s["change_auc"] = s.pop("reference_auc")
    for attack in ("loss", "zlib", "min_k", "min_k_pp"):
        if f"privleak_{attack}" in s:
            unl, ret = s.get(f"{attack}_auc_after"), s.get(f"{attack}_auc_retain_model")
            s[f"privleak_{attack}"] = privleak(unl, ret) if unl is not None and ret is not None else None
    for side in ("before", "after"):
        if f"model_utility_{side}" in s:
            s[f"retain_utility_{side}"] = s.pop(f"model_utility_{side}")
    s.setdefault("utility_parts", ["retain_probability", "retain_rouge_l", "retain_truth_ratio"])
    s["upgraded_from_version"] = rec.get("version", 1)
    rec["version"] = VERSION
    return rec


def load_audit(run_dir: Path, step: int | None = None) -> dict[str, Any] | None:
    """A run's (or a saved step's) audit in today's names (see `upgrade`), or None (never audited, or unreadable)."""
    f = audit_file(run_dir, step)
    try:
        return upgrade(json.loads(f.read_text())) if f.is_file() else None
    except (OSError, json.JSONDecodeError):
        return None
