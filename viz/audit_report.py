"""An audit record (unlearn/audit/audit_record.py, plain JSON data) to figures and tables: what the Audit
tab shows and the HTML report holds (its sentences are in audit_text.py). Pure: no model, no gradio."""

from __future__ import annotations

from typing import Any

import numpy as np
import plotly.graph_objects as go

from .audit import feature_distributions, feature_scatter, landscape_curve, landscape_grid, roc_curves
from .audit_bars import before_after_bars, quantization_figure, relearn_curve
from .audit_text import fmt as _fmt
from .audit_text import forget_quality_line, headline, part_name, report_notes, summary_lines, utility_line
from .export import page_html, table_html
from .patching import patching_curves, patching_heatmap
from .surface import surface_heatmaps

ATTACK_NAMES = {
    "loss": "LOSS",
    "zlib": "zlib",
    "min_k": "Min-K%",
    "min_k_pp": "Min-K%++",
    "gradnorm": "GradNorm",
    "reference": "Reference (vs the retain-only model)",
    "remind": "REMIND",
    "change": "Change score (after − before): not an attack",
}
SHORT_NAMES = {"reference": "Reference", "change": "Change*"}  # bar labels (the table has the long names)
ATTACK_REFERENCES = (
    "Attacks: LOSS (Yeom et al. 2018), zlib (Carlini et al. 2021, the answer's compressed size), Min-K% "
    "(Shi et al. 2024, arXiv 2310.16789) and Min-K%++ (Zhang et al. 2024, arXiv 2404.02936) on the lowest "
    "⌊0.4·n⌋ tokens, GradNorm (−‖∇θ L̄‖; Nasr et al. 2019, open-unlearning's mia_gradnorm), the reference "
    "attack (Carlini et al. 2021), REMIND (arXiv 2511.04228)."
)
CHANGE_NOTE = (
    "The change score is L̄_after − L̄_before: how much the run moved each item. It is not a membership attack: a "
    "run that worked moves what it was trained on most, so a high AUC is expected of any run that worked. The "
    "reference attack (L̄ of a model that never saw the forget set − L̄ of the audited model) needs a retain-only model."
)
METRIC_NAMES = {
    "probability": "probability",
    "rouge_l": "ROUGE-L recall",
    "truth_ratio": "truth ratio",
    "extraction_strength": "extraction strength",
    "exact_memorisation": "exact memorisation",
}
SPLIT_ORDER = ("forget", "retain", "holdout")
EVAL_NAMES = {"real_authors": "Real Authors", "world_facts": "World Facts"}  # TOFU's sets for model utility


def tpr_at(entry: dict[str, Any], fpr: float = 0.01) -> float:
    """TPR at a false-positive rate, read off stored ROC points."""
    f, t = np.asarray(entry["fpr"], float), np.asarray(entry["tpr"], float)
    return float(t[f <= fpr].max()) if (f <= fpr).any() else 0.0


def _n(rec: dict[str, Any], split: str) -> Any:
    return rec["summary"].get("n_items", rec["summary"].get("items", {})).get(split, "?")


def auc_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """attack | AUC before | AUC after | TPR at 1% FPR after | n; forget (members) vs holdout."""
    n = f"{_n(rec, 'forget')} / {_n(rec, 'holdout')}"
    rows = []
    for key, name in ATTACK_NAMES.items():
        before = rec["roc"]["before"].get(key)
        after = rec["roc"]["after"].get(key)
        if after is None:
            continue
        rows.append([name, _fmt(before["auc"]) if before else "—", _fmt(after["auc"]), _fmt(tpr_at(after), 2), n])
    return rows


AUC_HEADERS = ["attack", "AUC before", "AUC after", "TPR at 1% FPR", "n (forget / holdout)"]


def _columns(rec: dict[str, Any]) -> list[str]:
    s = rec["summary"]
    return [sp for sp in SPLIT_ORDER if sp in rec["splits"]] + [e for e in EVAL_NAMES if f"{e}_rouge_l_after" in s]


def utility_label(rec: dict[str, Any]) -> str:
    """ "model utility (TOFU, 9 parts)" where all nine were measured, else "retain utility" and its parts."""
    s = rec["summary"]
    parts = s.get("utility_parts") or []
    if s.get("model_utility_after") is not None:
        return "model utility (TOFU: harmonic mean of 9 parts)"
    named = ", ".join(map(part_name, parts))
    return f"retain utility ({len(parts)} of TOFU's 9 parts: {named})"


def metric_rows(rec: dict[str, Any]) -> list[list[Any]]:
    """TOFU metric | per split and evaluation set: before → after (set means; the truth ratio as TOFU
    aggregates it: forget mean min(R, 1/R), elsewhere mean max(0, 1 − R))."""
    s = rec["summary"]
    cols = _columns(rec)
    rows = []
    for key, name in METRIC_NAMES.items():
        row = [name]
        for sp in cols:
            b, a = s.get(f"{sp}_{key}_before"), s.get(f"{sp}_{key}_after")
            row.append("" if b is None and a is None else f"{_fmt(b)} → {_fmt(a)}")
        rows.append(row)
    util = "model_utility" if s.get("model_utility_after") is not None else "retain_utility"
    value = f"{_fmt(s.get(f'{util}_before'))} → {_fmt(s.get(f'{util}_after'))}"
    rows.append([utility_label(rec)] + [value if i == 0 else "" for i, _ in enumerate(cols)])
    return rows


def metric_headers(rec: dict[str, Any]) -> list[str]:
    return ["metric"] + [f"{EVAL_NAMES.get(sp, sp)} (n = {_n(rec, sp)}): before → after" for sp in _columns(rec)]


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
            groups[SHORT_NAMES.get(key, name)] = (before["auc"] if before else None, after["auc"])
    return before_after_bars(
        groups,
        "ROC-AUC, forget vs holdout (0.5 = chance; * not an attack)",
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
        groups,
        f"Adversarial probes on {s.get('probe_items_n', '?')} forget items (RWKU-style, a reconstruction)",
        "ROUGE-L recall",
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
    mc = s.get("forget_mc_items_after", "?")
    n = f"{_n(rec, 'forget')} forget, {_n(rec, 'retain')} retain answers; {mc} MC items"
    title = f"Honesty: refusals, gibberish, multiple choice with 'E: I don't know'<br><sup>{n}</sup>"
    return before_after_bars(groups, title, "rate")


def patching_figures(rec: dict[str, Any]) -> dict[str, go.Figure]:
    """The set's mean activation patching: the heatmap and the per-layer curves (none if not patched)."""
    p = rec.get("patching")
    if not p:
        return {}

    def arr(name: str) -> np.ndarray:  # null (an unchanged cell) back to NaN
        return np.asarray(p["mean"][name], dtype=float)

    n = len(p["items"])
    what = f"mean of the first {n} forget items" if n > 1 else f"forget item #1 ({p['items'][0]['item']})"
    return {
        "Activation patching": patching_heatmap(
            arr("recovery"), arr("reverse"), p["components"], p["groups"], f"Activation patching: {what}"
        ),
        "Activation patching per layer": patching_curves(
            arr("recovery"), p["components"], p["groups"], arr("single"), arr("cumulative"), f"Per layer: {what}"
        ),
    }


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
    s = rec["summary"]
    groups = {
        f"{EVAL_NAMES.get(sp, sp)}: {METRIC_NAMES[m]}": (s.get(f"{sp}_{m}_before"), s.get(f"{sp}_{m}_after"))
        for sp in _columns(rec)
        if sp != "holdout"
        for m in ("probability", "rouge_l", "truth_ratio")
    }
    figs["TOFU metrics"] = before_after_bars(groups, "TOFU metrics: forget, and the parts of model utility", "value")
    probes = probe_figure(rec)
    if probes is not None:
        figs["Adversarial probes"] = probes
    figs["Honesty"] = honesty_figure(rec)
    quant = quantization_figure(s)
    if quant is not None:
        figs["Quantization attack"] = quant
    figs |= patching_figures(rec)
    if s.get("relearn_prob_per_step"):
        figs["Relearning attack"] = relearn_curve(
            s["relearn_prob_per_step"],
            s["relearn_prob_before"],
            s["relearn_prob_unlearned"],
            s["relearn_measured_items"],
        )
    return figs


def report_sections(rec: dict[str, Any], figs: dict[str, go.Figure] | None = None) -> list[tuple[str, Any]]:
    """The audit's tables and figures (`figs`: already drawn by `audit_figures`), in reading order."""
    sections: list[tuple[str, Any]] = [
        (
            "Membership inference, forget vs holdout",
            table_html(AUC_HEADERS, auc_rows(rec)) + f"<p>{CHANGE_NOTE}</p><p>{ATTACK_REFERENCES}</p>",
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


__all__ = [
    "forget_quality_line",
    "headline",
    "report_notes",
    "summary_lines",
    "utility_line",
]  # the tab reads the sentences from here too
