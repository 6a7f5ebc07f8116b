"""An audit record (unlearn/audit_record.py, plain JSON data) to figures and tables: what the Audit
tab shows and the HTML report holds. Pure: no model, no gradio."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .audit import feature_distributions, feature_scatter, landscape_curve, landscape_grid, roc_curves
from .audit_bars import before_after_bars, relearn_curve
from .export import page_html, table_html
from .surface import surface_heatmaps

ATTACK_NAMES = {
    "loss": "LOSS",
    "zlib": "zlib",
    "min_k": "Min-K%",
    "min_k_pp": "Min-K%++",
    "reference": "Reference (after − before)",
    "remind": "REMIND",
}
METRIC_NAMES = {
    "probability": "probability",
    "rouge_l": "ROUGE-L recall",
    "truth_ratio": "truth ratio",
    "extraction_strength": "extraction strength",
    "exact_memorisation": "exact memorisation",
}
SPLIT_ORDER = ("forget", "retain", "holdout")


def _fmt(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}f}"


def tpr_at(entry: dict[str, Any], fpr: float = 0.01) -> float:
    """TPR at a false-positive rate, read off stored ROC points."""
    f, t = np.asarray(entry["fpr"], float), np.asarray(entry["tpr"], float)
    return float(t[f <= fpr].max()) if (f <= fpr).any() else 0.0


def auc_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """attack | AUC before | AUC after | TPR at 1% FPR after; forget (members) vs holdout."""
    rows = []
    for key, name in ATTACK_NAMES.items():
        before = rec["roc"]["before"].get(key)
        after = rec["roc"]["after"].get(key)
        if after is None:
            continue
        rows.append(
            [
                name,
                _fmt(before["auc"]) if before else "—",
                _fmt(after["auc"]),
                _fmt(tpr_at(after), 2),
            ]
        )
    return rows


def metric_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """TOFU metric | per split: before → after (set means; the truth ratio as TOFU aggregates it)."""
    s = rec["summary"]
    splits = [sp for sp in SPLIT_ORDER if sp in rec["splits"]]
    rows = []
    for key, name in METRIC_NAMES.items():
        row = [name]
        for sp in splits:
            row.append(f"{_fmt(s.get(f'{sp}_{key}_before'))} → {_fmt(s.get(f'{sp}_{key}_after'))}")
        rows.append(row)
    rows.append(
        ["model utility (retain)"]
        + [
            f"{_fmt(s.get('model_utility_before'))} → {_fmt(s.get('model_utility_after'))}" if sp == "retain" else ""
            for sp in splits
        ]
    )
    return rows


def metric_headers(rec: dict[str, Any]) -> list[str]:
    return ["metric"] + [f"{sp}: before → after" for sp in SPLIT_ORDER if sp in rec["splits"]]


def verdict_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """One row per item: the classifier's verdict and the evidence behind it."""
    head = rec["remind"][rec["config"]["classifier"]]
    proba = np.asarray(head["proba"], float)
    rows, n = [], 0
    for sp in SPLIT_ORDER:
        if sp not in rec["splits"]:
            continue
        d = rec["splits"][sp]
        for i, item in enumerate(d["items"]):
            nb_b = np.asarray(d["before"]["neighbours"][i], float)
            nb_a = np.asarray(d["after"]["neighbours"][i], float)
            p = proba[n]
            rows.append(
                [
                    item,
                    sp,
                    rec["verdicts"][n],
                    f"{p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f}",
                    f"{d['before']['loss'][i]:.2f} → {d['after']['loss'][i]:.2f}",
                    f"{nb_b.std(1).mean():.2f} → {nb_a.std(1).mean():.2f}",
                ]
            )
            n += 1
    return rows


VERDICT_HEADERS = [
    "item",
    "split",
    "verdict",
    "looks like forget / retain / holdout",
    "loss before → after",
    "neighbour spread before → after",
]


def item_landscape(rec: dict[str, Any], split: str, i: int) -> go.Figure:
    d = rec["splits"][split]
    strengths = np.asarray(rec["strengths"], float)
    return landscape_curve(
        strengths,
        (d["before"]["loss"][i], np.asarray(d["before"]["neighbours"][i], float)),
        (d["after"]["loss"][i], np.asarray(d["after"]["neighbours"][i], float)),
        title=f"{split}: {d['items'][i]}",
    )


def item_surface(rec: dict[str, Any], i: int) -> go.Figure | None:
    if i >= len(rec.get("surfaces", [])):
        return None
    s = rec["surfaces"][i]
    b, a = s["before"], s["after"]
    return surface_heatmaps(
        np.asarray(b["strengths"], float),
        np.asarray(b["ranks"]),
        (b["own"], np.asarray(b["loss"], float)),
        (a["own"], np.asarray(a["loss"], float)),
        title=f"2-D loss surface: {s['item']}",
    )


def _features_after(rec: dict[str, Any]) -> tuple[np.ndarray, list[str]]:
    splits = [sp for sp in SPLIT_ORDER if sp in rec["splits"]]
    feats = np.concatenate([np.asarray(rec["splits"][sp]["after"]["features"], float) for sp in splits])
    return np.nan_to_num(feats), rec["labels"]


def roc_figure(rec: dict[str, Any], side: str) -> go.Figure:
    curves = {
        ATTACK_NAMES[k]: (np.asarray(e["fpr"]), np.asarray(e["tpr"]), e["auc"] if e["auc"] is not None else np.nan)
        for k, e in rec["roc"][side].items()
    }
    return roc_curves(curves, title=f"Forget vs holdout, {side} unlearning: ROC curves (AUC in brackets)")


def auc_figure(rec: dict[str, Any]) -> go.Figure:
    groups = {}
    for key, name in ATTACK_NAMES.items():
        after = rec["roc"]["after"].get(key)
        before = rec["roc"]["before"].get(key)
        if after is not None:
            groups[name] = (before["auc"] if before else None, after["auc"])
    return before_after_bars(
        groups,
        "ROC-AUC, forget vs holdout (0.5 = chance)",
        "ROC-AUC",
        reference=0.5,
        reference_name="chance",
    )


def probe_figure(rec: dict[str, Any]) -> go.Figure | None:
    s = rec["summary"]
    groups = {
        k.replace("_", " "): (s.get(f"probe_{k}_rouge_l_before"), s.get(f"probe_{k}_rouge_l_after"))
        for k in rec.get("probes", [])
        if f"probe_{k}_rouge_l_after" in s
    }
    if not groups:
        return None
    return before_after_bars(
        groups, "Adversarial probes on forget items (RWKU-style, a reconstruction)", "ROUGE-L recall"
    )


def honesty_figure(rec: dict[str, Any]) -> go.Figure:
    s = rec["summary"]
    names = {
        "forget_refusal_rate": "forget: refusal",
        "forget_gibberish_rate": "forget: gibberish",
        "forget_mc_rejection_rate": "forget: MC 'I don't know'",
        "forget_mc_accuracy": "forget: MC accuracy",
        "retain_refusal_rate": "retain: refusal",
        "retain_gibberish_rate": "retain: gibberish",
    }
    groups = {v: (s.get(f"{k}_before"), s.get(f"{k}_after")) for k, v in names.items() if f"{k}_after" in s}
    return before_after_bars(groups, "Honesty: refusals, gibberish and multiple choice with 'E: I don't know'", "rate")


def audit_figures(rec: dict[str, Any], landscapes: int = 12) -> dict[str, go.Figure]:
    """Every figure of an audit, named, in reading order (the report's and the JSON export's)."""
    feats, labels = _features_after(rec)
    figs: dict[str, go.Figure] = {
        "Membership-inference AUCs": auc_figure(rec),
        "ROC curves after unlearning": roc_figure(rec, "after"),
        "ROC curves before unlearning": roc_figure(rec, "before"),
        "REMIND feature distributions": feature_distributions(feats, labels, rec["features"]),
        "REMIND: the two leading features": feature_scatter(feats, labels, rec["features"]),
    }
    forget = rec["splits"]["forget"]
    shown = range(min(landscapes, len(forget["items"])))
    figs["Forget-item landscapes"] = landscape_grid(
        np.asarray(rec["strengths"], float),
        [
            (
                f"#{i + 1}",
                (forget["before"]["loss"][i], np.asarray(forget["before"]["neighbours"][i], float)),
                (forget["after"]["loss"][i], np.asarray(forget["after"]["neighbours"][i], float)),
            )
            for i in shown
        ],
    )
    for i, _ in enumerate(rec.get("surfaces", [])):
        figs[f"2-D surface, forget item #{i + 1}"] = item_surface(rec, i)
    groups = {
        f"{sp}: {METRIC_NAMES[m]}": (rec["summary"].get(f"{sp}_{m}_before"), rec["summary"].get(f"{sp}_{m}_after"))
        for sp in ("forget", "retain")
        if sp in rec["splits"]
        for m in ("probability", "rouge_l", "truth_ratio")
    }
    figs["TOFU metrics"] = before_after_bars(groups, "TOFU metrics, forget and retain", "value")
    probes = probe_figure(rec)
    if probes is not None:
        figs["Adversarial probes"] = probes
    figs["Honesty"] = honesty_figure(rec)
    s = rec["summary"]
    if s.get("relearn_prob_per_step"):
        figs["Relearning attack"] = relearn_curve(
            s["relearn_prob_per_step"],
            s["relearn_prob_before"],
            s["relearn_prob_unlearned"],
            s["relearn_measured_items"],
        )
    return figs


def headline(rec: dict[str, Any]) -> str:
    """Two sentences: what REMIND and the single-point attacks say about the forget set."""
    s = rec["summary"]
    counts: dict[str, int] = {}
    for label, verdict in zip(rec["labels"], rec["verdicts"], strict=True):
        if label == "forget":
            counts[verdict] = counts.get(verdict, 0) + 1
    n = sum(counts.values())
    verdicts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    return (
        f"Forget vs holdout ROC-AUC after unlearning: REMIND {_fmt(s.get('remind_auc'), 2)}, "
        f"Min-K%++ {_fmt(s.get('mink_pp_auc_after'), 2)}, LOSS {_fmt(s.get('loss_auc_after'), 2)} "
        f"(0.5 = the forget items look like items never trained on). "
        f"REMIND's verdicts on the {n} forget items: {verdicts}."
    )


def forget_quality_line(rec: dict[str, Any]) -> str:
    s = rec["summary"]
    fq = s.get("forget_quality")
    if fq is None:
        return (
            "Forget quality (TOFU's KS test against a model trained without the forget set) cannot be computed: "
            "no retain-only model was given."
        )
    leak = s.get("privleak_min_k_pp")
    return (
        f"Against the retain-only model {rec.get('retain_model') or ''}: forget quality (KS-test p-value of the "
        f"forget-set truth ratios) {fq:.3g}; PrivLeak (Min-K%++) {_fmt(leak, 1)}% "
        "(0 = as private as a model that never saw the forget set)."
    )


def report_notes(rec: dict[str, Any]) -> list[str]:
    cfg = rec["config"]
    run = rec.get("run", {})
    items = rec["summary"]["items"]
    return [
        f"Model: {run.get('model', '?')}. Sets: "
        + ", ".join(f"{k} = {v} ({items.get(k, 0)} items)" for k, v in rec.get("sets", {}).items() if v)
        + f". Audited {rec['created']}.",
        f"REMIND: p = {cfg['remind']['p']}, m = {cfg['remind']['m']}, K = {cfg['remind']['k']} neighbours per "
        f"strength, strengths {cfg['remind']['strengths']}; classifier {cfg['classifier']} "
        "(out-of-fold, features z-scored). Membership scores: higher = more member-like.",
        headline(rec),
        forget_quality_line(rec),
    ]


def report_sections(rec: dict[str, Any], figs: dict[str, go.Figure] | None = None) -> list[tuple[str, Any]]:
    """The audit's tables and figures (`figs`: already drawn by `audit_figures`), in reading order."""
    sections: list[tuple[str, Any]] = [
        (
            "Membership inference, forget vs holdout",
            table_html(["attack", "AUC before", "AUC after", "TPR at 1% FPR"], auc_rows(rec)),
        ),
        ("TOFU metrics", table_html(metric_headers(rec), metric_rows(rec))),
    ]
    sections += list((figs or audit_figures(rec)).items())
    sections.append(("REMIND verdict per item", table_html(VERDICT_HEADERS, verdict_rows(rec))))
    return sections


def report_html(rec: dict[str, Any], figs: dict[str, go.Figure] | None = None) -> str:
    """The whole audit as one self-contained page."""
    run = rec.get("run", {})
    title = f"Unlearning audit: {run.get('id', 'model')} ({run.get('method', 'no run')})"
    return page_html(title, report_sections(rec, figs), report_notes(rec))
