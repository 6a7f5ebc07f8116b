"""REMIND's classifier: separable features give AUC 1, identical ones give chance, verdicts follow."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn.audit.remind_classify import separate

RNG = np.random.default_rng(0)
LABELS = np.array(["forget"] * 12 + ["retain"] * 12 + ["holdout"] * 12)


@pytest.mark.parametrize("classifier", ["logistic", "forest"])
def test_well_separated_splits_give_auc_one_and_verdicts(classifier: str) -> None:
    centres = {"forget": 0.0, "retain": 5.0, "holdout": 10.0}
    x = np.stack([RNG.normal(centres[s], 0.3, 15) for s in LABELS])
    sep = separate(x, LABELS, classifier)
    assert sep.macro_auc == pytest.approx(1.0) and all(v == pytest.approx(1.0) for v in sep.tpr_at_1pct.values())
    np.testing.assert_allclose(sep.proba.sum(1), 1.0)
    verdicts = sep.verdicts(LABELS)
    assert set(verdicts[:12]) == {"residual memorisation"} and set(verdicts[24:]) == {"never seen"}


def test_forget_items_that_look_like_holdout_are_called_forgotten() -> None:
    # forget items drawn like holdout ones: the classifier cannot tell them apart
    centres = {"forget": 10.0, "retain": 0.0, "holdout": 10.0}
    x = np.stack([RNG.normal(centres[s], 0.3, 15) for s in LABELS])
    sep = separate(x, LABELS, "logistic")
    assert sep.auc["retain"] == pytest.approx(1.0)
    assert sep.auc["forget"] < 0.8  # no better than a weak guess against holdout
    assert "looks forgotten" in sep.verdicts(LABELS)[:12]


def test_too_few_items_or_splits_get_a_message() -> None:
    with pytest.raises(ValueError, match="two splits"):
        separate(np.zeros((4, 15)), np.array(["forget"] * 4))
    with pytest.raises(ValueError, match="at least 2 items"):
        separate(np.zeros((3, 15)), np.array(["forget", "forget", "holdout"]))
    with pytest.raises(ValueError, match="choose one of"):
        separate(np.zeros((4, 15)), np.array(["forget", "forget", "holdout", "holdout"]), "svm")
