"""The relearning attack: it measures items it never trained on and leaves the run's weights as they were.

Reference: relearning attacks (Hu et al. 2024, arXiv 2406.13356; Lynch et al. 2024, arXiv 2402.16835) with
evaluation.md's recovery = (m_relearned − m_unlearned) / (m_before − m_unlearned), m the measured items'
P̃ = exp(−mean answer NLL); the figures are recomputed here from the model directly."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.audit.relearn import RelearnConfig, relearn, restored, split
from unlearn.data.builtin import load_selection
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll
from unlearn.train.params import make_trainable


def test_split_is_disjoint_and_seeded() -> None:
    items = list(range(10))
    a, b = split(items, 0.3, seed=1)
    assert len(a) == 3 and len(b) == 7 and not set(a) & set(b)
    assert split(items, 0.3, seed=1) == (a, b)
    assert len(split(items, 1.0, 0)[1]) == 1  # always something left to measure


def test_restored_puts_values_back_even_after_an_error() -> None:
    p = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(RuntimeError), restored([p]):
        with torch.no_grad():
            p.mul_(5)
        raise RuntimeError("boom")
    assert torch.equal(p, torch.ones(3))


def test_relearning_recovers_and_leaves_the_run_intact(tiny: LoadedModel) -> None:
    forget = load_selection("fictitious_authors:forget").examples[:8]
    tr = make_trainable(tiny.model, "lora")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.3)  # a "run" that changed the model
    weights = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    out = relearn(tiny.model, tiny.tokenizer, tr, forget, RelearnConfig(steps=3, lr=5e-2, batch_size=4))
    assert out["relearned_items"] == 4 and out["measured_items"] == 4
    assert len(out["prob_per_step"]) == 4 and out["recovery_per_step"][0] == 0.0
    assert all(math.isfinite(x) for x in out["prob_per_step"])
    assert out["prob_per_step"][-1] != out["prob_unlearned"]  # the attack changed the model while it ran
    for n, p in tiny.model.named_parameters():
        assert torch.equal(p, weights[n]), n
    # the before / unlearned figures, computed independently on the measured half
    _, measured = split(forget, 0.5, 0)
    with tr.reference():
        p_before = math.exp(-float(answer_nll(tiny.model, tiny.tokenizer, measured).mean()))
    p_unlearned = math.exp(-float(answer_nll(tiny.model, tiny.tokenizer, measured).mean()))
    assert out["prob_before"] == pytest.approx(p_before) and out["prob_unlearned"] == pytest.approx(p_unlearned)
    last = out["prob_per_step"][-1]
    assert out["recovery"] == pytest.approx((last - p_unlearned) / (p_before - p_unlearned))
    with pytest.raises(ValueError, match="at least 2"):
        relearn(tiny.model, tiny.tokenizer, tr, forget[:1])


def test_relearning_a_run_reloaded_from_disk_trains_its_frozen_weights(tiny: LoadedModel) -> None:
    """apply_run leaves the run's weights frozen; the attack's backward then found nothing to differentiate
    (the CLI audit of any saved run failed with "does not require grad"). It trains them for its steps
    and leaves the flags and values as they were."""
    forget = load_selection("fictitious_authors:forget").examples[:8]
    tr = make_trainable(tiny.model, "full")
    for p in tr.params:
        p.requires_grad_(False)  # as apply_run leaves them
    frozen = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    out = relearn(tiny.model, tiny.tokenizer, tr, forget, RelearnConfig(steps=2, lr=1e-2))
    assert out["prob_per_step"][-1] != out["prob_per_step"][0]  # the attack did train
    assert all(not p.requires_grad for p in tr.params)
    assert all(torch.equal(p, frozen[n]) for n, p in tiny.model.named_parameters())
