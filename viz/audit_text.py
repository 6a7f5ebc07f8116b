"""An audit record's sentences: the headline, forget quality and PrivLeak, model utility, the
quantization attack, the holdout's source and the sample size behind each figure. Pure text from the
record's plain data (the Audit tab, the report and the Runs tab's export read them)."""

from __future__ import annotations

import re
from typing import Any

import numpy as np


def quantized_bits(summary: dict[str, Any]) -> list[int]:
    """The bit widths a quantization attack measured, widest first (`quantization_{b}bit_forget_prob`)."""
    found = (re.fullmatch(r"quantization_(\d+)bit_forget_prob", k) for k in summary)
    return sorted({int(m.group(1)) for m in found if m}, reverse=True)


PART_METRICS = {"probability": "probability", "rouge_l": "ROUGE-L", "truth_ratio": "truth ratio"}


def part_name(part: str) -> str:
    """A utility part's key in words: "real_authors_rouge_l" -> "real authors ROUGE-L"."""
    for key, words in PART_METRICS.items():
        if part.endswith("_" + key):
            return f"{part.removesuffix('_' + key).replace('_', ' ')} {words}"
    return part.replace("_", " ")


def fmt(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}f}"


def headline(rec: dict[str, Any]) -> str:
    """Two sentences: what REMIND and the single-point attacks say about the forget set."""
    s = rec["summary"]
    counts: dict[str, int] = {}
    for label, verdict in zip(rec["labels"], rec["verdicts"], strict=True):
        if label == "forget":
            counts[verdict] = counts.get(verdict, 0) + 1
    n = sum(counts.values())
    verdicts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    items = s.get("items", {})
    return (
        f"Forget vs holdout ROC-AUC after unlearning ({items.get('forget', '?')} forget and "
        f"{items.get('holdout', '?')} holdout items): REMIND {fmt(s.get('remind_auc'), 2)}, "
        f"Min-K%++ {fmt(s.get('mink_pp_auc_after'), 2)}, LOSS {fmt(s.get('loss_auc_after'), 2)} "
        f"(0.5 = the forget items look like items never trained on). "
        f"REMIND's verdicts on the {n} forget items: {verdicts}."
    )


def forget_quality_line(rec: dict[str, Any]) -> str:
    """TOFU's forget quality and MUSE's PrivLeak against the retain-only model, or why there are none."""
    s = rec["summary"]
    if rec.get("retain_model") is None and s.get("forget_quality") is None and s.get("privleak_min_k") is None:
        return (
            "Forget quality (TOFU's KS test), PrivLeak (MUSE) and the reference attack need a model trained "
            "without the forget set: none was given, so they are not computed."
        )
    n = s.get("forget_quality_n") or {}
    fq = s.get("forget_quality")
    fq_text = (
        f"forget quality {fq:.3g} (KS-test p-value of the forget-set truth ratios, {n.get('unlearned', '?')} "
        f"items under the unlearned model against {n.get('retain_model', '?')} under the retain-only model)"
        if fq is not None
        else "forget quality n/a (the forget items carry no perturbed answers)"
    )
    return (
        f"Against the retain-only model {rec.get('retain_model') or ''}: {fq_text}; PrivLeak (MUSE: Min-K%, "
        f"k = 0.4) {fmt(s.get('privleak_min_k'), 1)}% after the run, {fmt(s.get('privleak_min_k_before'), 1)}% "
        "before it (0% = as private as a model that never saw the forget set; −100% = not unlearned at all; "
        "positive = over-unlearned, the forget items now look less seen than never-seen ones)."
    )


def utility_line(rec: dict[str, Any]) -> str:
    s = rec["summary"]
    n = s.get("n_items", {})
    if s.get("model_utility_after") is not None:
        return (
            f"Model utility (TOFU: harmonic mean of probability, ROUGE-L and truth ratio on retain "
            f"({n.get('retain', '?')} items), Real Authors ({n.get('real_authors', '?')}) and World Facts "
            f"({n.get('world_facts', '?')})): "
            f"{fmt(s.get('model_utility_before'))} → {fmt(s.get('model_utility_after'))}."
        )
    parts = ", ".join(map(part_name, s.get("utility_parts") or []))
    return (
        f"Retain utility {fmt(s.get('retain_utility_before'))} → {fmt(s.get('retain_utility_after'))}: the "
        f"harmonic mean of {len(s.get('utility_parts') or [])} of TOFU's nine parts ({parts}), so not TOFU's model "
        "utility; score Real Authors and World Facts (and a retain set with perturbed answers) for all nine."
    )


def quantization_line(rec: dict[str, Any]) -> str | None:
    """What quantizing the after model brought back (arXiv 2410.16454), or None if not run."""
    s = rec["summary"]
    bits = quantized_bits(s)
    if not bits:
        return None
    n = (s.get("quantization_items") or {}).get("forget", "?")
    parts = [
        f"{b}-bit: forget P̃ {fmt(s.get(f'quantization_{b}bit_forget_prob'))}, recovery "
        f"{fmt(s.get(f'quantization_recovery_{b}bit'))}"
        for b in bits
    ]
    return (
        f"Quantization attack (RTN, groups of 128; {n} forget items): forget P̃ before the run "
        f"{fmt(s.get('quantization_forget_prob_before'))}, after {fmt(s.get('quantization_forget_prob_after'))}; "
        + "; ".join(parts)
        + " (recovery 0 = nothing came back, 1 = as known as before the run)."
    )


def items_line(rec: dict[str, Any]) -> str | None:
    """Where a set held fewer items than asked for, the counts the figures rest on (None if as asked).

    >>> items_line({"config": {"items_per_split": 6}, "summary": {"items": {"forget": 3, "holdout": 3, "retain": 6}}})
    'ℹ️ Asked for 6 items per split; scored forget 3, holdout 3 (the sets hold no more), retain 6.'
    """
    asked = rec.get("config", {}).get("items_per_split")
    got = rec.get("summary", {}).get("items", {})
    short = {s: n for s, n in got.items() if asked and n < asked}
    if not short:
        return None
    full = {s: n for s, n in got.items() if s not in short}
    said = ", ".join(f"{s} {n}" for s, n in short.items()) + " (the sets hold no more)"
    said += "".join(f", {s} {n}" for s, n in full.items())
    return f"ℹ️ Asked for {asked} items per split; scored {said}."


def patching_line(rec: dict[str, Any]) -> str | None:
    """The set's activation patching in one sentence (None where the audit did not patch)."""
    s = rec["summary"]
    n = s.get("patching_items")
    if not n:
        return None
    best, half, reach = (s.get(f"patching_{k}") for k in ("best_layer_recovery", "layers_for_half", "reach_half"))
    if best is None:
        return f"**Activation patching** ({n} forget items): the run left their answers as they were."
    where = (
        f"half of it comes back with {half:.0%} of the layers on average ({reach:.0%} of the items get there)"
        if half is not None
        else "no item gets half of it back even with every layer's attention and MLP outputs patched"
    )
    return (
        f"**Activation patching** ({n} forget items): the best single layer brings back {best:.0%} of the answer's "
        f"log-probability on average; {where}. Much back from few layers: hidden rather than removed."
    )


def summary_lines(rec: dict[str, Any]) -> list[str]:
    """What the audit found, in sentences: the items scored where fewer than asked, the holdout's source
    (if it is another), the headline, forget quality and PrivLeak, utility, the quantization attack,
    activation patching."""
    lines = [line for line in [items_line(rec)] if line]
    lines += ["⚠️ " + rec["holdout_note"]] if rec.get("holdout_note") else []
    lines += [headline(rec), forget_quality_line(rec), utility_line(rec)]
    return lines + [line for line in (quantization_line(rec), patching_line(rec)) if line]


def report_notes(rec: dict[str, Any]) -> list[str]:
    cfg = rec["config"]
    run = rec.get("run", {})
    items = rec["summary"].get("n_items", rec["summary"]["items"])
    notes = [
        f"Model: {run.get('model', '?')}. Sets: "
        + ", ".join(f"{k} = {v} ({items.get(k, 0)} items)" for k, v in rec.get("sets", {}).items() if v)
        + f". Audited {rec['created']}.",
    ]
    if rec["summary"].get("upgraded_from_version"):
        notes.append(
            "Saved by an earlier version of this tool: its figures are shown under today's names (its 'reference' "
            "AUC was the change score; PrivLeak recomputed with MUSE's orientation from its AUCs); run the audit "
            "again for the corrected probability, zlib, Min-K% and utility figures."
        )
    notes += [
        f"REMIND: p = {cfg['remind']['p']}, m = {cfg['remind']['m']}, K = {cfg['remind']['k']} neighbours per "
        f"strength, strengths {cfg['remind']['strengths']}; classifier {cfg['classifier']} "
        "(out-of-fold, features z-scored). Membership scores: higher = more member-like.",
    ]
    return notes + summary_lines(rec)
