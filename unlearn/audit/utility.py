"""TOFU's model utility (Maini et al. 2024, arXiv 2401.06121, sec. 2.5; open-unlearning's
`model_utility`): the harmonic mean of nine numbers, probability, ROUGE-L recall and truth ratio on
each of the retain set, Real Authors and World Facts.

- probability on the retain set: the mean over items of exp(−mean answer NLL) (plain, length-normalised)
- probability on Real Authors and World Facts: the mean over items of P(true) / (P(true) + Σ P(perturbed)),
  each P length-normalised (exp(−mean answer NLL))
- ROUGE-L recall of the greedy answer against the gold answer, mean over items
- truth ratio R = P̃_perturbed / P̃_correct (geometric mean over the perturbed answers); the figure is
  mean(max(0, 1 − R)) on all three

With fewer than the nine parts measured (Real Authors and World Facts not evaluated, or a retain set
without perturbed answers) the figure is not TOFU's model utility: it is reported as "retain utility",
with the parts it has named.

>>> round(utility({"retain_probability": 0.5, "retain_rouge_l": 1.0})[0], 4)  # 2 / (1/0.5 + 1/1)
0.6667
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.tofu_metrics import probability, rouge_l_recall, truth_ratio_score, truth_ratios, variants
from unlearn.data.examples import Example
from unlearn.model.scoring import answer_nll, generate_answers

UTILITY_SETS = ("retain", "real_authors", "world_facts")
UTILITY_METRICS = ("probability", "rouge_l", "truth_ratio")
PARTS = tuple(f"{s}_{m}" for s in UTILITY_SETS for m in UTILITY_METRICS)  # the nine, in TOFU's order
NORMALISED = ("real_authors", "world_facts")  # sets whose probability is normalised against wrong answers


def harmonic_mean(values: Sequence[float]) -> float:
    """n / Σ 1/v; 0 when any part is 0 (scipy.stats.hmean's convention, which TOFU uses)."""
    v = np.asarray(values, float)
    return 0.0 if (v <= 0).any() else float(len(v) / (1 / v).sum())


def utility(parts: Mapping[str, float | None]) -> tuple[float | None, list[str]]:
    """The harmonic mean of the measured parts (finite values among PARTS) and their names, in order.
    TOFU's model utility only when all nine are there (see `is_model_utility`)."""
    have = [p for p in PARTS if parts.get(p) is not None and np.isfinite(parts[p])]
    return (harmonic_mean([float(parts[p]) for p in have]) if have else None), have


def is_model_utility(names: Sequence[str]) -> bool:
    return len(names) == len(PARTS)


def set_figures(metrics: Mapping[str, np.ndarray], forget: bool = False) -> dict[str, float]:
    """A set's probability, ROUGE-L and truth-ratio figures from per-item metrics (means; the truth
    ratio aggregated as TOFU does, NaN items, those without perturbed answers, left out)."""
    out = {
        "probability": float(np.mean(metrics["probability"])),
        "rouge_l": float(np.mean(metrics["rouge_l"])),
    }
    ratios = np.asarray(metrics["truth_ratio"], float)
    finite = ratios[np.isfinite(ratios)]
    out["truth_ratio"] = truth_ratio_score(finite, forget) if len(finite) else float("nan")
    return out


def evaluation_metrics(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    items: Sequence[Example],
    max_new_tokens: int = 48,
    answers: Sequence[str] | None = None,
) -> dict[str, np.ndarray]:
    """Per item of Real Authors or World Facts: the normalised probability, ROUGE-L recall and truth
    ratio (the items carry the answer and perturbed answers; no paraphrase, so "correct" = the answer).
    `answers`: the items' greedy answers where the caller generated them (the audit, with its other
    sets' in one batch)."""
    flat, correct, wrong = variants(items)
    losses = answer_nll(model, tokenizer, flat)
    if answers is None:
        answers = generate_answers(model, tokenizer, [e.question for e in items], max_new_tokens)
    return {
        "probability": np.array([probability(losses[c], losses[w]) for c, w in zip(correct, wrong, strict=True)]),
        "rouge_l": np.array([rouge_l_recall(a, e.answer) for a, e in zip(answers, items, strict=True)]),
        "truth_ratio": truth_ratios(losses, correct, wrong),
    }
