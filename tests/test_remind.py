"""REMIND's neighbourhoods, batched losses and 15 features."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn.audit.remind import (
    FEATURES,
    Landscape,
    RemindConfig,
    answer_losses,
    landscape,
    nearest_tokens,
    perturb,
)
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll

EXAMPLES = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Capital of France?", "Paris.")]


def test_nearest_tokens_by_cosine_and_never_itself() -> None:
    emb = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [-1.0, 0.0]])
    near = nearest_tokens(emb, [0, 2, 0], m=2)
    assert set(near) == {0, 2}
    assert near[0].tolist() == [1, 2]  # 1 is nearly parallel, 2 orthogonal, 3 opposite
    assert 2 not in near[2].tolist() and near[2][0] == 1  # 1 is closest to 2 after itself


def test_perturb_replaces_only_question_positions_with_neighbours() -> None:
    rng = np.random.default_rng(0)
    ids = np.array([5, 6, 7, 8, 9])
    near = {6: np.array([60, 61]), 7: np.array([70, 71])}
    same, share = perturb(ids, np.array([1, 2]), 0.0, near, rng)
    assert same.tolist() == ids.tolist() and share == 0
    out, share = perturb(ids, np.array([1, 2]), 1.0, near, rng)
    assert share == 1.0 and out[0] == 5 and out[3:].tolist() == [8, 9]
    assert out[1] in (60, 61) and out[2] in (70, 71)


def test_features_by_hand() -> None:
    # one example, loss 1; at strengths 0.1 / 0.2 / 0.3 its neighbours' losses are 1.5 / 2 / 3 (+-0.5 at 0.3)
    nb = np.array([[[1.5, 1.5], [2.0, 2.0], [2.5, 3.5]]])
    rep = np.full((1, 3, 2), 0.5)
    f = dict(
        zip(FEATURES, Landscape(np.array([1.0]), np.array([0.1, 0.2, 0.3]), nb, rep).features(0.3)[0], strict=True)
    )
    assert len(FEATURES) == 15
    assert f["loss"] == 1.0 and f["neighbour_mean"] == 3.0 and f["neighbour_max"] == 3.5 and f["neighbour_min"] == 2.5
    assert f["neighbour_var"] == pytest.approx(0.25) and f["neighbour_std"] == pytest.approx(0.5)
    assert f["increment_mean"] == 2.0 and f["increment_min"] == 1.5 and f["increment_var"] == pytest.approx(0.25)
    assert f["gradient_mean"] == pytest.approx(4.0) and f["gradient_max"] == pytest.approx(5.0)
    assert f["volatility"] == pytest.approx(np.std([0.5, 0.5, 1.0]))
    assert f["curvature"] == pytest.approx((2.0 - 2 * 1.5 + 1.0) / 0.01)


def test_gradient_feature_ignores_neighbours_with_nothing_replaced() -> None:
    # REMIND's gradient is Δ_k per unit of perturbation. Two neighbours at p = 0.3: one replaced half the
    # question (Δ = 2, gradient 4), the other replaced nothing; its Δ = 1e-6 is loss noise of a batched
    # forward. Worked by hand: over the one neighbour that moved, mean = max = 4, variance 0. The old
    # formula divided 1e-6 by max(0, 1e-6) and read a gradient of 1 there (mean 2.5, variance 2.25).
    nb = np.array([[[1.2, 1.2], [1.5, 1.5], [3.0, 1.0 + 1e-6]]])
    rep = np.array([[[0.5, 0.5], [0.5, 0.5], [0.5, 0.0]]])
    f = dict(
        zip(FEATURES, Landscape(np.array([1.0]), np.array([0.1, 0.2, 0.3]), nb, rep).features(0.3)[0], strict=True)
    )
    assert f["gradient_mean"] == pytest.approx(4.0) and f["gradient_max"] == pytest.approx(4.0)
    assert f["gradient_var"] == pytest.approx(0.0)
    # an item no neighbour changed at all: gradients 0, not noise / 1e-6
    still = Landscape(np.array([1.0]), np.array([0.1, 0.2, 0.3]), np.full((1, 3, 2), 1.0 + 1e-6), np.zeros((1, 3, 2)))
    g = dict(zip(FEATURES, still.features(0.3)[0], strict=True))
    assert (g["gradient_mean"], g["gradient_max"], g["gradient_var"]) == (0.0, 0.0, 0.0)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError, match="one of the strengths"):
        RemindConfig(p=0.25).check()
    with pytest.raises(ValueError, match="evenly spaced"):
        RemindConfig(strengths=(0.1, 0.3)).check()


def test_landscape_on_the_tiny_model(tiny: LoadedModel) -> None:
    cfg = RemindConfig(m=3, k=4, batch_size=5)
    land = landscape(tiny.model, tiny.tokenizer, EXAMPLES, cfg)
    assert land.neighbours.shape == (2, 3, 4) and land.replaced.shape == (2, 3, 4)
    np.testing.assert_allclose(land.loss, answer_nll(tiny.model, tiny.tokenizer, EXAMPLES), rtol=1e-5)
    untouched = land.replaced == 0
    np.testing.assert_allclose(
        land.neighbours[untouched],
        np.broadcast_to(land.loss[:, None, None], land.neighbours.shape)[untouched],
        rtol=1e-5,
    )
    assert (
        land.neighbours[~untouched] != np.broadcast_to(land.loss[:, None, None], land.neighbours.shape)[~untouched]
    ).any()
    assert land.features(cfg.p).shape == (2, 15) and np.isfinite(land.features(cfg.p)).all()
    # the same seed gives the same neighbours
    again = landscape(tiny.model, tiny.tokenizer, EXAMPLES, cfg)
    np.testing.assert_array_equal(again.replaced, land.replaced)


def test_batched_losses_equal_one_row_at_a_time(tiny: LoadedModel) -> None:
    enc = encode(tiny.tokenizer, EXAMPLES[0])
    ids = torch.tensor([enc.input_ids] * 3, device=tiny.device)
    ids[1, 2] = ids[1, 3]
    ids[2, 4] = 7
    labels = torch.tensor([enc.labels] * 3, device=tiny.device)
    together = answer_losses(tiny.model, ids, labels, batch_size=3)
    alone = np.concatenate([answer_losses(tiny.model, ids[i : i + 1], labels[i : i + 1], 1) for i in range(3)])
    np.testing.assert_allclose(together, alone, rtol=1e-5)


def test_landscape_gives_each_items_token_statistics_as_their_own_forward_does(tiny: LoadedModel) -> None:
    """The audit reads LOSS / Min-K% / Min-K%++ inputs from REMIND's row 0 instead of a forward of its own."""
    from unlearn.audit.mia import token_stats

    land = landscape(tiny.model, tiny.tokenizer, EXAMPLES, RemindConfig(m=3, k=4, batch_size=5))
    own = token_stats(tiny.model, tiny.tokenizer, EXAMPLES)
    assert len(land.stats) == len(EXAMPLES)
    for got, want in zip(land.stats, own, strict=True):
        for name in ("logp", "mu"):
            np.testing.assert_allclose(getattr(got, name), getattr(want, name), rtol=1e-5, atol=1e-6)
        # σ = sqrt(E[log p²] − μ²) as the Min-K%++ reference computes it: the subtraction of two near-equal
        # numbers (~35 each here) turns float32 rounding of another batch into ~1e-4 of σ
        np.testing.assert_allclose(got.sigma, want.sigma, rtol=1e-3)
        np.testing.assert_array_equal(got.hit, want.hit)
    np.testing.assert_allclose(land.loss, [s.loss for s in land.stats], rtol=1e-6)
