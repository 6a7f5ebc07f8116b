"""An audit's headline figures as one flat dict: what `python -m unlearn audit --json` prints, the
Runs tab lists and the report's tables read. Every figure carries the name of what it is; every
statistic its sample size (`n_items`, `truth_ratio_n`, `forget_quality_n`, ...).

Names that follow a paper are computed as the paper does: `privleak_min_k` is MUSE's PrivLeak
(Min-K%, k = 0.4; the other attacks' values are `privleak_<attack>`), `model_utility` is TOFU's nine-
part harmonic mean and exists only when all nine parts were measured (otherwise `retain_utility`,
with `utility_parts` naming what it holds), `reference_auc_*` is the reference attack against the
retain-only model, and `change_auc` is the change score L̄_after − L̄_before, which is not an attack.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unlearn.audit.honesty import rates
from unlearn.audit.mia import auc, privleak
from unlearn.audit.pipeline import EVAL_SETS, AuditResult
from unlearn.audit.utility import is_model_utility, set_figures, utility
from unlearn.inspection.patching import set_summary


def _membership(r: AuditResult, out: dict[str, Any]) -> None:
    aucs = {side: r.attack_aucs(side) for side in ("before", "after")}
    for side, values in aucs.items():
        for attack, value in values.items():
            out[f"{attack}_auc_{side}"] = value
    out["mink_pp_auc_before"], out["mink_pp_auc_after"] = out["min_k_pp_auc_before"], out["min_k_pp_auc_after"]
    change = r.change_scores()
    out["change_auc"] = auc(change["forget"], change["holdout"])
    for side in ("before", "after"):
        ref = r.reference_scores(side)
        out[f"reference_auc_{side}"] = auc(ref["forget"], ref["holdout"]) if ref else None
    out["privleak_min_k"] = None  # MUSE's PrivLeak needs the retain-only ("retrain") model
    out["forget_quality"] = None  # and so does TOFU's forget quality
    if r.retain_model is not None:
        retrain = r.retain_model.aucs()
        for attack, value in retrain.items():
            out[f"{attack}_auc_retain_model"] = value
            out[f"privleak_{attack}"] = privleak(aucs["after"][attack], value)
        out["privleak_min_k_before"] = privleak(aucs["before"]["min_k"], retrain["min_k"])
        out.update(r.quality)


def _set_metrics(r: AuditResult, out: dict[str, Any]) -> None:
    for side in ("before", "after"):
        s = getattr(r, side)
        for split in r.items:
            m = s[split].metrics
            for name, value in set_figures(m, forget=split == "forget").items():
                out[f"{split}_{name}_{side}"] = value
            for name in ("extraction_strength", "exact_memorisation"):
                out[f"{split}_{name}_{side}"] = float(np.mean(m[name]))
        for name, m in r.evaluation.get(side, {}).items():
            for metric, value in set_figures(m).items():
                out[f"{name}_{metric}_{side}"] = value
    out["truth_ratio_n"] = {
        split: int(np.isfinite(r.after[split].metrics["truth_ratio"]).sum()) for split in r.items
    } | {name: int(np.isfinite(m["truth_ratio"]).sum()) for name, m in r.evaluation.get("after", {}).items()}


def _utility(r: AuditResult, out: dict[str, Any]) -> None:
    names: list[str] = []
    for side in ("before", "after"):
        parts = {
            f"{s}_{m}": out.get(f"{s}_{m}_{side}")
            for s in ("retain", *EVAL_SETS)
            for m in ("probability", "rouge_l", "truth_ratio")
        }
        value, names = utility(parts)
        out[f"model_utility_{side}" if is_model_utility(names) else f"retain_utility_{side}"] = value
    out["utility_parts"] = names
    out["utility_n_parts"] = len(names)
    out["model_utility"] = out.get("model_utility_after")  # None unless all nine parts were measured


def summarise(r: AuditResult) -> dict[str, Any]:
    """The headline numbers (see the module docstring)."""
    out: dict[str, Any] = {"items": {s: len(v) for s, v in r.items.items()}}
    out["n_items"] = {**out["items"], **r.evaluation_items}
    out["remind_auc"] = r.remind_binary.auc["forget"]
    out["remind_tpr_at_1pct"] = r.remind_binary.tpr_at_1pct["forget"]
    for name, sep in r.remind.items():
        out[f"remind_{name}_macro_auc"] = sep.macro_auc
    _membership(r, out)
    _set_metrics(r, out)
    _utility(r, out)
    for side in ("before", "after"):
        for split in ("forget", "retain"):
            if split in r.items:
                for name, value in rates(getattr(r, side)[split].generations).items():
                    out[f"{split}_{name}_{side}"] = value
    if r.patching:  # activation patching of the first forget items (inspection/patching.py)
        out |= {f"patching_{k}": v for k, v in set_summary(r.patching).items()}
    return {**out, **r.extra}
