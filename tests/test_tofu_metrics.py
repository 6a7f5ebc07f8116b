"""TOFU metrics by hand, and on real TOFU rows (field names from the shared files)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

from unlearn.examples import Example
from unlearn.mia import TokenStats
from unlearn.tofu_metrics import (
    exact_memorisation,
    extraction_strength,
    forget_quality,
    item_metrics,
    model_utility,
    probability,
    rouge_l_recall,
    truth_ratio,
    truth_ratio_score,
    variants,
)


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
    assert model_utility([0.5, 0.5, 0.5]) == pytest.approx(0.5)
    assert model_utility([1.0, 0.5]) == pytest.approx(2 / 3) and model_utility([0.0, 1.0]) == 0.0
    a, b = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.5, 0.6, 0.7, 0.9])
    assert forget_quality(a, b) == pytest.approx(ks_2samp(a, b).pvalue)
    assert forget_quality(a, None) is None


def test_rouge_l_recall() -> None:
    assert rouge_l_recall("It was J.K. Rowling who wrote them", "J.K. Rowling") == 1.0
    assert rouge_l_recall("I do not know", "J.K. Rowling") == 0.0


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
    p_true = 0.5
    assert m["probability"][0] == pytest.approx(p_true / (p_true + math.exp(-2) + math.exp(-4)))


def test_variants_of_real_tofu_rows() -> None:
    from tests.test_formats import tofu_bytes
    from unlearn.formats import read_records
    from unlearn.schemas import records_to_examples

    records = read_records(tofu_bytes("world_facts_perturbed.json"), "world_facts_perturbed.json")
    _, exs = records_to_examples(records, None, "world_facts_perturbed.json")
    flat, correct, wrong = variants(exs)
    assert len(correct) == len(exs) == 117
    assert all(len(w) == len(e.perturbed_answers) > 0 for w, e in zip(wrong, exs, strict=True))
    assert len(flat) == len(exs) + sum(len(e.perturbed_answers) for e in exs)
