"""Compare-tab figures from synthetic arrays: shapes, marks and the numbers they show."""

from __future__ import annotations

import numpy as np
import pytest

from viz.attention import attention_grid, head_change, head_change_map, head_detail, mosaic, rollout_bars
from viz.attribution import attribution_bars
from viz.export import figures_html
from viz.lens import lens_heatmaps
from viz.tokens import lowest_k, shown, token_strips, topk_bars, word_diff

RNG = np.random.default_rng(0)


def _attention(n_layers: int = 3, n_heads: int = 4, t: int = 20) -> np.ndarray:
    a = RNG.random((n_layers, n_heads, t, t)) * np.tril(np.ones((t, t)))  # causal
    return a / a.sum(-1, keepdims=True)


def test_word_diff_marks_only_the_words_that_changed() -> None:
    left, right = word_diff("The author is J.K. Rowling.", "The author is unknown to me.")
    assert [w for w, tag in left if tag] == ["J.K. ", "Rowling."]
    assert [w for w, tag in right if tag] == ["unknown ", "to ", "me."]
    assert "".join(w for w, _ in left) == "The author is J.K. Rowling."  # nothing lost
    same, _ = word_diff("Paris.", "Paris.")
    assert all(tag is None for _, tag in same)


def test_lowest_k_marks_the_least_likely_share() -> None:
    lp = np.array([-0.1, -5.0, -0.2, -3.0, -0.3])
    assert lowest_k(lp, 0.4).tolist() == [False, True, False, True, False]
    assert lowest_k(lp, 0.01).sum() == 1  # always at least one


def test_token_strips_show_before_after_and_delta_with_markers() -> None:
    toks = [" J", ".", "K", ".", " Row", "ling"]
    before = np.array([-0.5, -0.1, -0.05, -0.01, -0.2, -0.01])
    after = np.array([-6.0, -0.3, -2.0, -0.1, -9.0, -0.5])
    fig = token_strips(toks, before, after, k=0.3)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert len(heat) == 3
    np.testing.assert_allclose(heat[2].z[0], after - before)
    marks = [t for t in fig.data if t.type == "scatter"]
    assert sorted(marks[1].x.tolist()) == [0, 4]  # the after model's two least likely tokens
    assert list(fig.layout.xaxis3.ticktext) == [shown(t) for t in toks]
    assert fig.layout.coloraxis2.cmid == 0


def test_repeated_tokens_stay_separate_cells() -> None:
    fig = token_strips([" the", " the"], np.array([-1.0, -2.0]), np.array([-1.0, -3.0]))
    assert len(fig.data[0].x) == 2


def test_topk_bars_colour_the_gold_token() -> None:
    fig = topk_bars(
        "Who wrote it?", " Row", ([" Row", " J"], np.array([0.7, 0.2])), ([" J", " I"], np.array([0.5, 0.3]))
    )
    assert fig.data[0].marker.color[0] != fig.data[0].marker.color[1]  # gold first before
    assert len(set(fig.data[1].marker.color)) == 1  # gold absent after
    assert "gold next token" in fig.layout.title.text


@pytest.mark.parametrize("metric", ["probability", "rank"])
def test_lens_heatmaps_before_after_difference(metric: str) -> None:
    prob_b, prob_a = RNG.random((4, 5)), RNG.random((4, 5)) * 0.1
    rank_b, rank_a = RNG.integers(0, 100, (4, 5)), RNG.integers(0, 1000, (4, 5))
    fig = lens_heatmaps(list("abcde"), (prob_b, rank_b), (prob_a, rank_a), metric)
    b, a, d = (np.asarray(t.z) for t in fig.data)
    np.testing.assert_allclose(d, a - b)
    if metric == "probability":
        np.testing.assert_allclose(b, np.log10(prob_b))
    else:
        np.testing.assert_allclose(a, np.log10(rank_a + 1))
    with pytest.raises(ValueError, match="choose one of"):
        lens_heatmaps(list("abcde"), (prob_b, rank_b), (prob_a, rank_a), "entropy")


def test_head_change_is_zero_for_unchanged_heads_and_one_for_disjoint() -> None:
    b = _attention()
    a = b.copy()
    b[1, 2] = np.eye(20)  # layer 2, head 2 attended to each token itself ...
    a[1, 2] = np.eye(20, k=-1)  # ... and now to the token before (query 0 has none: all weight moved off)
    a[1, 2, 0, 0] = 1.0  # query 0 can only see itself: unchanged
    change = head_change(b, a)
    assert change.shape == (3, 4)
    assert change[0].max() == 0 and change[2].max() == 0
    assert change[1, 2] == pytest.approx(19 / 20)  # every query but the first moved all its weight
    fig = head_change_map(b, a, kv_heads=2)
    assert "layer 2, head 2" in fig.layout.title.text and list(fig.data[0].x)[3] == "h3 (kv1)"


def test_mosaic_places_pooled_heads_with_group_gaps() -> None:
    att = _attention(2, 4, 32)
    m = mosaic(att, kv_heads=2, size=8)
    assert m.dtype == np.float32
    assert m.shape == (2 * 9, 4 * 9)  # 4 thumbnails, 2 single gaps and one double gap between the groups
    np.testing.assert_allclose(m[:8, :8], att[0, 0].reshape(8, 4, 8, 4).mean((1, 3)), rtol=1e-6)
    assert np.isnan(m[8]).all() and np.isnan(m[:, 17:19]).all() and not np.isnan(m[:8, 19]).any()
    np.testing.assert_allclose(m[9:17, 28:36], att[1, 3].reshape(8, 4, 8, 4).mean((1, 3)), rtol=1e-6)
    fig = attention_grid(att, att, kv_heads=2)
    assert np.nanmax(np.abs(fig.data[2].z)) == 0  # nothing changed


def test_head_detail_and_rollout_and_attribution_figures() -> None:
    b, a = _attention(2, 2, 6), _attention(2, 2, 6)
    toks = list("abcdef")
    fig = head_detail(toks, b[1, 0], a[1, 0], layer=2, head=0, kv_heads=1, n_heads=2)
    np.testing.assert_allclose(fig.data[2].z, a[1, 0] - b[1, 0], rtol=1e-5, atol=1e-7)
    assert "Layer 2, head 0" in fig.layout.title.text
    r = np.full((6, 6), 0.1)
    r[:, 0] = 0.5
    fig = rollout_bars(toks, r, r, answer_start=4)
    assert fig.data[0].x.tolist() == [1, 2, 3]  # prompt tokens only, the first (sink) left out
    assert "50.0% before" in fig.layout.title.text
    fig = attribution_bars(["Who", " wrote"], np.array([2.0, -1.0]), np.array([0.1, 0.0]), "ablation")
    assert fig.data[0].y.tolist() == [2.0, -1.0] and "Who" in fig.layout.title.text


def test_figures_html_is_one_offline_page() -> None:
    page = figures_html("Compare", {"strips": token_strips(["a"], np.array([-1.0]), np.array([-2.0]))}, ["cut"])
    assert page.count("<h2>") == 1 and "cdn.plot.ly" not in page.split("</script>", 1)[1]
    assert "Plotly" in page and "<p class='note'>cut</p>" in page


def test_patching_figures_show_every_row_and_the_half_way_mark() -> None:
    from viz.patching import UNCHANGED, patching_curves, patching_heatmap, patching_summary, row_labels

    comps, groups = ("residual", "attention", "mlp"), ("question", "answer", "all")
    rec = RNG.random((3, 3, 5))
    rev = -RNG.random((3, 3, 5))
    heat = patching_heatmap(rec, rev, comps, groups)
    assert len(heat.data) == 2 and list(heat.data[0].y) == row_labels(comps, groups)
    np.testing.assert_allclose(np.asarray(heat.data[0].z), rec.reshape(9, 5))  # row order: C × G
    np.testing.assert_allclose(np.asarray(heat.data[1].z), rev.reshape(9, 5))
    assert list(heat.data[0].x) == [1, 2, 3, 4, 5] and heat.layout.coloraxis.cmid == 0
    cumulative = np.array([0.1, 0.3, 0.6, 0.9, 1.0])
    curves = patching_curves(rec, comps, groups, rec[1, 2], cumulative)
    assert [t.name for t in curves.data][-1] == "best layers together" and len(curves.data) == 4
    np.testing.assert_allclose(curves.data[0].y, rec[0, 2])  # the residual stream at all tokens
    assert any("half with 3 of 5" in a.text for a in curves.layout.annotations)
    assert patching_summary(0.42, 0.6, 5) == (
        "The best single layer brings back 42% of the answer's log-probability; "
        "the best 3 of 5 layers together bring half of it back."
    )
    assert "do not bring half" in patching_summary(0.1, None, 5)
    nan = np.full((3, 3, 5), np.nan)
    assert any(a.text == UNCHANGED for a in patching_heatmap(nan, nan, comps, groups).layout.annotations)
    assert patching_summary(float("nan"), None, 5) == UNCHANGED
