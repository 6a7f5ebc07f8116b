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


def test_steps_figure_marks_kept_steps_thresholds_and_the_stop() -> None:
    from viz.steps import steps_figure

    record = {
        "id": "r",
        "spec": {"stop_forget": 0.1, "keep_retain": 0.9, "eval_items": 8},
        "metrics": {"forget_prob_before": 0.5, "retain_prob_before": 0.4},
        "checkpoints": [2],
        "stop": {"rule": "retain", "step": 3, "undone": True},
    }
    history = [
        {"step": 1, "forget_prob": 0.3, "retain_prob": 0.39},
        {"step": 2, "forget_prob": 0.2, "retain_prob": 0.37},
    ]
    fig = steps_figure(record, history)
    forget = next(t for t in fig.data if t.name == "forget")
    assert list(forget.x) == [0, 1, 2] and list(forget.y) == [0.5, 0.3, 0.2]  # step 0: the whole set, before
    assert list(forget.marker.symbol) == ["circle", "circle", "diamond"]
    lines = [s for s in fig.layout.shapes]
    assert sorted(round(s.y0, 6) for s in lines if s.y0 == s.y1 and s.y0 is not None) == [0.05, 0.36]
    assert any(s.x0 == 3 for s in lines)  # where it stopped
    assert "kept steps 2" in fig.layout.title.text and "whole sets" in fig.layout.title.text


def test_quantization_figure_groups_before_after_and_each_bit_width() -> None:
    from viz.audit_bars import quantization_figure

    s = {"quantization_forget_prob_before": 0.9, "quantization_forget_prob_after": 0.1}
    s |= {"quantization_8bit_forget_prob": 0.12, "quantization_4bit_forget_prob": 0.5}
    s |= {"quantization_recovery_8bit": 0.025, "quantization_recovery_4bit": 0.5}
    fig = quantization_figure(s)
    assert [t.name for t in fig.data] == ["before the run", "after the run", "after, 8-bit", "after, 4-bit"]
    assert fig.data[3].y[0] == 0.5 and np.isnan(fig.data[3].y[1])  # ROUGE-L not given: left out, not 0
    assert "4-bit 0.500" in fig.layout.title.text
    assert quantization_figure({}) is None
    three = quantization_figure({**s, "quantization_3bit_forget_prob": 0.7})  # any bit width measured is drawn
    assert [t.name for t in three.data][2:] == ["after, 8-bit", "after, 4-bit", "after, 3-bit"]
