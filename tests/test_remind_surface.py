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
