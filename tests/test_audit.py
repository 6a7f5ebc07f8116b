"""One audit on the tiny model: every split scored before and after, the headline numbers consistent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn.audit import AuditConfig, run_audit
from unlearn.builtin import load_selection
from unlearn.mia import auc
from unlearn.models import LoadedModel
from unlearn.params import make_trainable
from unlearn.remind import RemindConfig

CFG = AuditConfig(remind=RemindConfig(m=3, k=2), max_items=4, max_new_tokens=4)


def _sets() -> dict:
    return {s: load_selection(f"fictitious_authors:{s}").examples for s in ("forget", "retain", "holdout")}


def test_audit_of_a_run_scores_every_split_and_summarises(tiny: LoadedModel) -> None:
    tr = make_trainable(tiny.model, "lora")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.3)
    weights = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    res = run_audit(tiny.model, tiny.tokenizer, _sets(), tr.reference, CFG, trainable=tr)
    out = res.summary()
    for n, p in tiny.model.named_parameters():
        assert torch.equal(p, weights[n]), n  # the relearning attack put the run's weights back
    assert out["items"] == {"forget": 4, "retain": 4, "holdout": 4}
    for key in ("remind_auc", "mink_pp_auc_before", "mink_pp_auc_after", "loss_auc_after", "reference_auc"):
        assert 0.0 <= out[key] <= 1.0, key
    # LOSS AUC is the AUC of −L̄, forget against holdout
    f, h = ([-s.loss for s in res.after[sp].stats] for sp in ("forget", "holdout"))
    assert out["loss_auc_after"] == pytest.approx(auc(np.array(f), np.array(h)))
    assert out["forget_quality"] is None  # no retain-only model given
    assert math.isfinite(out["forget_truth_ratio_after"])
    assert 0 <= out["model_utility_after"] <= 1  # 0 when any part is 0 (the random model's ROUGE is)
    assert res.after["forget"].land.neighbours.shape == (4, 3, 2)
    assert set(res.remind) == {"logistic", "forest"}
    assert "relearn_recovery" in out and len(out["relearn_prob_per_step"]) == CFG.relearn.steps + 1
    assert 0 <= out["probe_affirmative_suffix_rouge_l_after"] <= 1 and "forget_mc_rejection_rate_after" in out
    assert 0 <= out["forget_refusal_rate_after"] <= 1 and 0 <= out["forget_gibberish_rate_before"] <= 1


def test_without_a_run_before_equals_after_and_bad_sets_are_refused(tiny: LoadedModel) -> None:
    res = run_audit(tiny.model, tiny.tokenizer, _sets(), cfg=CFG)
    assert res.attack_aucs("before") == res.attack_aucs("after")
    assert "relearn_recovery" not in res.summary()  # no run's trainable given: no relearning attack
    with pytest.raises(ValueError, match="holdout"):
        run_audit(tiny.model, tiny.tokenizer, {"forget": _sets()["forget"]}, cfg=CFG)


def test_a_retain_only_model_gives_forget_quality_and_privleak(tiny: LoadedModel) -> None:
    # the model compared with itself: the same truth ratios (KS p-value 1) and the same AUCs (PrivLeak 0)
    cfg = AuditConfig(
        remind=RemindConfig(m=3, k=2), max_items=4, max_new_tokens=4, probe_items=0, relearn=None, surface_items=0
    )
    cfg.retain_model = (tiny.model, tiny.tokenizer)
    out = run_audit(tiny.model, tiny.tokenizer, _sets(), cfg=cfg).summary()
    assert out["forget_quality"] == pytest.approx(1.0)
    for attack in ("loss", "zlib", "min_k", "min_k_pp"):
        assert out[f"privleak_{attack}"] == pytest.approx(0.0, abs=1e-9)
        assert out[f"{attack}_auc_retain_model"] == pytest.approx(out[f"{attack}_auc_after"])
    assert 0 < out["retain_model_forget_truth_ratio"] <= 1
