"""Every saved run in one list of plain rows: what it did and, where it was audited, the headline of
its audit. The Runs tab draws its table and scatter from this."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unlearn.audit.audit_record import load_audit
from unlearn.train.runs import list_runs

# the audit figures shown beside each run (keys of the audit summary)
AUDIT_KEYS = (
    "remind_auc",
    "mink_pp_auc_after",
    "loss_auc_after",
    "model_utility_after",  # TOFU's nine parts; where fewer were measured, the next two say what there is
    "retain_utility_after",
    "utility_n_parts",
    "relearn_recovery",
    "privleak_min_k",
)


def overview(root: Path | None = None) -> list[dict[str, Any]]:
    """Newest first: id, folder, method, status, steps, seconds, forget / retain P̃ before and after,
    and the audit's headline figures (None where not audited)."""
    rows = []
    for r in list_runs(root):
        m = r.get("metrics", {})
        audit = load_audit(Path(r["dir"]))
        summary = audit["summary"] if audit else {}
        rows.append(
            {
                "id": r["id"],
                "dir": r["dir"],
                "method": r.get("method", "?"),
                "status": r.get("status", "?"),
                "model": r.get("model", {}).get("name", "?"),
                "forget_set": r.get("sets", {}).get("forget", ""),
                "steps": r.get("steps"),
                "seconds": r.get("seconds"),
                **{k: m.get(k) for k in ("forget_prob_before", "forget_prob_after")},
                **{k: m.get(k) for k in ("retain_prob_before", "retain_prob_after")},
                "audited": audit["created"] if audit else None,
                **{k: summary.get(k) for k in AUDIT_KEYS},
            }
        )
    return rows
