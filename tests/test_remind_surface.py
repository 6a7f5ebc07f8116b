"""REMIND's 2-D surface (strength p × neighbour rank m) on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn.audit.remind_surface import SurfaceConfig, surface
from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll

EX = Example("Who wrote the red book about the owl?", "Anna Berg wrote it.")


def test_surface_grid_shape_own_loss_and_deterministic_cells(tiny: LoadedModel) -> None:
    cfg = SurfaceConfig(strengths=(0.5, 1.0), ranks=(1, 3), k=3)
    s = surface(tiny.model, tiny.tokenizer, EX, cfg)
    assert s.loss.shape == s.spread.shape == (2, 2)
    assert s.own == pytest.approx(float(answer_nll(tiny.model, tiny.tokenizer, [EX])[0]), rel=1e-4)
    # p = 1, m = 1: every question token becomes its single nearest token, so the k neighbours agree
    assert s.spread[0, 1] == pytest.approx(0.0, abs=1e-5)
    assert np.isfinite(s.loss).all() and not np.allclose(s.loss, s.own)


def test_surface_config_is_checked(tiny: LoadedModel) -> None:
    with pytest.raises(ValueError, match="strengths"):
        surface(tiny.model, tiny.tokenizer, EX, SurfaceConfig(strengths=(0.0, 2.0)))


def test_known_cells_are_taken_and_the_other_cells_stay_as_they_were(tiny: LoadedModel) -> None:
    """The audit gives a surface its item's REMIND neighbours at REMIND's rank and strengths."""
    from unlearn.audit.remind import RemindConfig, landscape
    from unlearn.audit.remind_surface import surfaces

    cfg = SurfaceConfig(strengths=(0.1, 0.2, 0.3, 0.4), ranks=(1, 3, 5), k=2)
    land = landscape(tiny.model, tiny.tokenizer, [EX], RemindConfig(m=3, k=4))
    plain = surface(tiny.model, tiny.tokenizer, EX, cfg)
    reused = surfaces(tiny.model, tiny.tokenizer, [EX], cfg, land, m=3)[0]
    row = cfg.ranks.index(3)
    for j, p in enumerate(cfg.strengths):
        if p in land.strengths:  # REMIND's first k neighbours at (m = 3, p)
            want = land.neighbours[0, list(land.strengths).index(p), : cfg.k]
            assert reused.loss[row, j] == pytest.approx(float(want.mean()))
            assert reused.spread[row, j] == pytest.approx(float(want.std()))
    # every cell REMIND does not cover is scored on the neighbours it always drew
    other = np.ones_like(plain.loss, dtype=bool)
    other[row, :3] = False
    np.testing.assert_allclose(reused.loss[other], plain.loss[other], rtol=1e-5)
    assert reused.own == pytest.approx(float(land.loss[0])) and reused.own == pytest.approx(plain.own, rel=1e-5)
