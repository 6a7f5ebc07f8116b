"""Audit figures from synthetic arrays."""

from __future__ import annotations

import numpy as np

from viz.audit import feature_distributions, landscape_curve, roc_curves


def test_landscape_curve_starts_at_the_items_own_loss() -> None:
    nb_b = np.array([[1.5, 2.5], [3.0, 3.0]])
    fig = landscape_curve(np.array([0.1, 0.2]), (1.0, nb_b), (4.0, np.full((2, 2), 4.0)))
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["before", "after"]
    np.testing.assert_allclose(lines[0].y, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(lines[0].x, [0.0, 0.1, 0.2])
    np.testing.assert_allclose(lines[1].y, [4.0, 4.0, 4.0])  # a flat plateau


def test_feature_distributions_one_box_per_split_and_feature() -> None:
    feats = np.arange(12.0).reshape(4, 3)
    fig = feature_distributions(feats, ["forget", "forget", "holdout", "retain"], ["a", "b", "c"])
    assert len(fig.data) == 9
    forget_a = next(t for t in fig.data if t.name == "forget" and t.xaxis == "x")
    assert list(forget_a.y) == [0.0, 3.0]


def test_roc_curves_name_their_auc() -> None:
    fig = roc_curves({"LOSS": (np.array([0, 0, 1]), np.array([0, 1, 1]), 1.0)})
    assert fig.data[1].name == "LOSS (1.00)" and fig.data[0].name.startswith("chance")
