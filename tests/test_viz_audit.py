"""Audit figures from synthetic arrays."""

from __future__ import annotations

import numpy as np

from viz.audit import (
    feature_distributions,
    feature_scatter,
    landscape_curve,
    landscape_grid,
    leading_features,
    roc_curves,
)
from viz.audit_bars import before_after_bars, relearn_curve
from viz.surface import surface_heatmaps


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


def test_leading_features_pick_the_columns_that_separate_the_splits() -> None:
    rng = np.random.default_rng(0)
    labels = ["forget"] * 10 + ["holdout"] * 10
    feats = rng.normal(size=(20, 4))
    feats[:10, 2] += 10  # column 2 tells forget from holdout; 3 a little
    feats[:10, 3] += 1
    assert leading_features(feats, labels) == [2, 3]
    assert "f2 × f3" in feature_scatter(feats, labels, ["f0", "f1", "f2", "f3"]).layout.title.text


def test_landscape_grid_one_before_and_after_line_per_item() -> None:
    nb = np.ones((2, 3))
    fig = landscape_grid(np.array([0.1, 0.2]), [("#1", (1.0, nb), (2.0, nb)), ("#2", (1.0, nb), (2.0, nb))], cols=2)
    assert len(fig.data) == 4 and [t.showlegend for t in fig.data] == [True, True, False, False]
    np.testing.assert_allclose(fig.data[1].y, [2.0, 1.0, 1.0])


def test_surface_heatmaps_start_at_the_items_own_loss_and_diff_is_after_minus_before() -> None:
    before = np.array([[1.0, 2.0], [1.5, 2.5]])  # ranks × strengths
    fig = surface_heatmaps(np.array([0.1, 0.2]), np.array([1, 5]), (0.5, before), (3.0, before + 1))
    b, a, d = fig.data
    np.testing.assert_allclose(np.asarray(b.z)[:, 0], [0.5, 0.5])
    np.testing.assert_allclose(np.asarray(d.z)[:, 1:], 1.0)
    np.testing.assert_allclose(np.asarray(d.z)[:, 0], 2.5)
    assert list(b.x) == ["0 (item)", "0.1", "0.2"] and list(b.y) == ["m=1", "m=5"]


def test_before_after_bars_leave_missing_values_out() -> None:
    fig = before_after_bars({"LOSS": (0.9, 0.6), "REMIND": (None, 0.7)}, "t", "AUC")
    assert np.isnan(fig.data[0].y[1]) and fig.data[0].text[1] == "n/a" and fig.data[1].y[1] == 0.7


def test_relearn_curve_states_the_recovery() -> None:
    fig = relearn_curve([0.1, 0.3, 0.5], before=0.9, unlearned=0.1, measured=3)
    assert "recovery 0.50" in fig.layout.title.text and list(fig.data[0].y) == [0.1, 0.3, 0.5]
