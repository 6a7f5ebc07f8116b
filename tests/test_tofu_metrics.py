"""TOFU metrics by hand, and on real TOFU rows (field names from the shared files).

References: TOFU (Maini et al. 2024, arXiv 2401.06121, sec. 2.5) and open-unlearning's implementation
(`src/evals/metrics/memorization.py`: probability = mean of exp(−mean answer NLL), truth ratio
wrong / correct with the `closer_to_1_better` (forget) and `true_better` aggregators, ROUGE-L recall
with rouge_score's stemmer; `privacy.py`: forget quality = scipy's ks_2samp p-value of the raw truth
ratios; `model_utility`: scipy.stats.hmean of the nine parts). Extraction strength follows the
definition ES = 1 − min{k : argmax reproduces y_≥k}/|y| (k = |y| allowed, an empty suffix)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from unlearn.audit.mia import TokenStats
from unlearn.audit.tofu_metrics import (
    exact_memorisation,
    extraction_strength,
    forget_quality,
    item_metrics,
    probability,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_score,
    variants,
)
from unlearn.audit.utility import harmonic_mean, is_model_utility, utility
from unlearn.data.examples import Example


def test_extraction_strength_and_exact_memorisation() -> None:
    assert extraction_strength(np.array([True, True, True])) == 1.0
    assert extraction_strength(np.array([False, True, True, True])) == 0.75  # reproduced from index 1
    assert extraction_strength(np.array([True, True, False])) == 0.0
    assert exact_memorisation(np.array([True, False, True, True])) == 0.75


def test_probability_truth_ratio_and_set_scores() -> None:
    assert probability(1.0) == pytest.approx(math.exp(-1))
    assert probability(1.0, [1.0, 1.0]) == pytest.approx(1 / 3)
    # correct loss 1, wrong losses 2 and 4: geometric mean of P_wrong = exp(-3); R = exp(-3) / exp(-1)
    assert truth_ratio(1.0, [2.0, 4.0]) == pytest.approx(math.exp(-2))
    assert truth_ratio_score(np.array([0.5, 2.0]), forget=True) == pytest.approx(0.5)
    assert truth_ratio_score(np.array([0.25, 2.0]), forget=False) == pytest.approx(0.375)
    assert harmonic_mean([0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert harmonic_mean([1.0, 0.5]) == pytest.approx(2 / 3) and harmonic_mean([0.0, 1.0]) == 0.0
    a, b = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7, 0.9])
    assert forget_quality(a, b) == pytest.approx(ks_2samp(a, b).pvalue)
    assert forget_quality(a, None) is None


def test_rouge_l_recall() -> None:
    assert rouge_l_recall("It was J.K. Rowling who wrote them", "J.K. Rowling") == 1.0
    assert rouge_l_recall("I do not know", "J.K. Rowling") == 0.0
    # by hand: gold "the cat sat on the mat" (6 tokens), answer "the cat lay on a mat": LCS the-cat-on-mat = 4
    assert rouge_l_recall("The cat lay on a mat.", "the cat sat on the mat") == pytest.approx(4 / 6)


def test_variants_and_item_metrics() -> None:
    exs = [
        Example("Q1?", "gold one", paraphrased_answer="para one", perturbed_answers=["w1", "w2"]),
        Example("Q2?", "gold two"),
    ]
    flat, correct, wrong = variants(exs)
    assert [e.answer for e in flat] == ["para one", "w1", "w2", "gold two"]
    assert correct == [0, 3] and wrong == [[1, 2], []]
    gold = [TokenStats(np.log([0.5, 0.5]), np.zeros(2), np.ones(2), np.array([False, True])) for _ in exs]
    losses = np.array([1.0, 2.0, 4.0, 0.5])
    m = item_metrics(exs, gold, ["gold one indeed", "nothing"], losses)
    assert m["truth_ratio"][0] == pytest.approx(math.exp(-2)) and np.isnan(m["truth_ratio"][1])
    assert m["rouge_l"].tolist() == [1.0, 0.0]
    assert m["extraction_strength"].tolist() == [0.5, 0.5] and m["exact_memorisation"].tolist() == [0.5, 0.5]
    # forget / retain probability is plain exp(−L̄): L̄ = −log 0.5, so 0.5, whatever wrong answers the item has
    # (the old code normalised item 1 against its wrong answers: 0.5 / (0.5 + e^-2 + e^-4) = 0.7649)
    assert m["probability"].tolist() == pytest.approx([0.5, 0.5])


def test_extraction_strength_when_the_last_answer_token_is_missed() -> None:
    # ES = 1 − k/|y|, k the smallest index whose suffix the argmax reproduces; with the last token missed only
    # k = |y| (the empty suffix) works: ES = 0. (open-unlearning's loop stops at k = |y| − 1 and reports 1/|y|.)
    assert extraction_strength(np.array([True, True, True, False])) == 0.0
    assert extraction_strength(np.array([False, False, True, True])) == 0.5  # suffix from index 2


def test_model_utility_is_the_harmonic_mean_of_nine_parts() -> None:
    # TOFU: hmean of probability, ROUGE-L, truth ratio on retain, Real Authors, World Facts.
    # By hand: 9 / (1/0.9 + 1/0.6 + 1/0.5 + 1/0.4 + 1/0.8 + 1/0.7 + 1/0.3 + 1/0.9 + 1/0.6)
    #        = 9 / (1.1111 + 1.6667 + 2 + 2.5 + 1.25 + 1.4286 + 3.3333 + 1.1111 + 1.6667) = 9 / 16.0675 = 0.56014
    parts = dict(
        zip(
            [
                f"{s}_{m}"
                for s in ("retain", "real_authors", "world_facts")
                for m in ("probability", "rouge_l", "truth_ratio")
            ],
            [0.9, 0.6, 0.5, 0.4, 0.8, 0.7, 0.3, 0.9, 0.6],
            strict=True,
        )
    )
    value, names = utility(parts)
    assert value == pytest.approx(0.56014, abs=1e-5) and is_model_utility(names)
    # the old "model utility" was the harmonic mean of the retain parts alone: 3 / (1/0.9 + 1/0.6 + 1/0.5) = 0.6279
    retain_only = {k: v for k, v in parts.items() if k.startswith("retain_")}
    value, names = utility(retain_only)
    assert value == pytest.approx(0.62791, abs=1e-5) and not is_model_utility(names) and len(names) == 3
    # a part that could not be measured (NaN: no perturbed answers) is left out and named as missing
    value, names = utility({**parts, "retain_truth_ratio": float("nan")})
    assert len(names) == 8 and "retain_truth_ratio" not in names and not is_model_utility(names)


def test_real_authors_and_world_facts_use_the_normalised_probability(tiny) -> None:
    from unlearn.audit.utility import evaluation_metrics
    from unlearn.data.builtin import utility_sets
    from unlearn.model.scoring import answer_nll

    items = utility_sets(2)["world_facts"]
    m = evaluation_metrics(tiny.model, tiny.tokenizer, items, max_new_tokens=2)
    flat, correct, wrong = variants(items)
    losses = answer_nll(tiny.model, tiny.tokenizer, flat)
    # P(true) / (P(true) + Σ P(perturbed)), each P = exp(−mean answer NLL), computed here from the losses directly
    p = np.exp(-losses)
    expected = [p[c] / (p[c] + p[w].sum()) for c, w in zip(correct, wrong, strict=True)]
    np.testing.assert_allclose(m["probability"], expected, rtol=1e-6)
    np.testing.assert_allclose(
        m["truth_ratio"], [np.exp(losses[c] - losses[w].mean()) for c, w in zip(correct, wrong, strict=True)]
    )


def test_variants_of_real_tofu_rows() -> None:
    from tests.test_formats import tofu_bytes
    from unlearn.data.formats import read_records
    from unlearn.data.schemas import records_to_examples

    records = read_records(tofu_bytes("world_facts_perturbed.json"), "world_facts_perturbed.json")
    _, exs = records_to_examples(records, None, "world_facts_perturbed.json")
    flat, correct, wrong = variants(exs)
    assert len(correct) == len(exs) == 117
    assert all(len(w) == len(e.perturbed_answers) > 0 for w, e in zip(wrong, exs, strict=True))
    assert len(flat) == len(exs) + sum(len(e.perturbed_answers) for e in exs)
