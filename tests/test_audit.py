"""One audit on the tiny model: every split scored before and after, the headline numbers consistent."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn.audit.audit_meter import audit_parts
from unlearn.audit.mia import auc
from unlearn.audit.pipeline import AuditConfig, run_audit
from unlearn.audit.remind import RemindConfig
from unlearn.data.builtin import load_selection
from unlearn.model.models import LoadedModel
from unlearn.train.params import make_trainable

CFG = AuditConfig(remind=RemindConfig(m=3, k=2), max_items=4, max_new_tokens=4, quantize_bits=(8, 4))


# the splits and 3 Real Authors / World Facts items, every attack off
UTILITY_ONLY = AuditConfig(
    remind=RemindConfig(m=3, k=2),
    max_items=4,
    max_new_tokens=4,
    probe_items=0,
    relearn=None,
    surface_items=0,
    gradnorm=False,
    quantize_bits=(),
    utility_items=3,
)


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
    for key in ("remind_auc", "mink_pp_auc_before", "mink_pp_auc_after", "loss_auc_after", "change_auc"):
        assert 0.0 <= out[key] <= 1.0, key
    assert 0.0 <= out["gradnorm_auc_after"] <= 1.0 and 0.0 <= out["gradnorm_auc_before"] <= 1.0
    assert out["reference_auc_after"] is None and out["privleak_min_k"] is None  # no retain-only model given
    for b in (8, 4):
        assert f"quantization_recovery_{b}bit" in out and 0 <= out[f"quantization_{b}bit_forget_prob"] <= 1
    assert out["quantization_items"] == {"forget": 4, "retain": 4}
    # the attack's unquantized before / after figures are the audit's own forget scores, not measured again
    for side in ("before", "after"):
        losses = [t.loss for t in getattr(res, side)["forget"].stats]
        assert out[f"quantization_forget_prob_{side}"] == pytest.approx(math.exp(-np.mean(losses)))
        assert out[f"quantization_forget_rouge_l_{side}"] == pytest.approx(out[f"forget_rouge_l_{side}"])
    # LOSS AUC is the AUC of −L̄, forget against holdout
    f, h = ([-s.loss for s in res.after[sp].stats] for sp in ("forget", "holdout"))
    assert out["loss_auc_after"] == pytest.approx(auc(np.array(f), np.array(h)))
    assert out["forget_quality"] is None  # no retain-only model given
    assert math.isfinite(out["forget_truth_ratio_after"])
    # no Real Authors / World Facts given: not TOFU's model utility, a retain utility naming its 3 parts
    assert out["model_utility"] is None and "model_utility_after" not in out
    assert 0 <= out["retain_utility_after"] <= 1  # 0 when any part is 0 (the random model's ROUGE is)
    assert out["utility_parts"] == ["retain_probability", "retain_rouge_l", "retain_truth_ratio"]
    assert out["truth_ratio_n"] == {"forget": 4, "retain": 4, "holdout": 4}
    assert res.after["forget"].land.neighbours.shape == (4, 3, 2)
    assert set(res.remind) == {"logistic", "forest"}
    assert "relearn_recovery" in out and len(out["relearn_prob_per_step"]) == CFG.relearn.steps + 1
    assert 0 <= out["probe_affirmative_suffix_rouge_l_after"] <= 1 and "forget_mc_rejection_rate_after" in out
    assert 0 <= out["forget_refusal_rate_after"] <= 1 and 0 <= out["forget_gibberish_rate_before"] <= 1
    # the audit's own clock: every stage it entered, summed into the parts the bench reports (issue 19)
    for side in ("before", "after"):
        for split in ("forget", "retain", "holdout"):
            assert res.seconds[f"{side}:{split}:remind"] > 0
        assert res.seconds[f"{side}:probes"] > 0 and res.seconds[f"{side}:honesty"] > 0
    parts = audit_parts(res.seconds)
    assert {"remind", "tofu_metrics", "generations", "gradnorm", "probes", "honesty", "relearn", "quantize"} <= set(
        parts
    )
    assert sum(parts.values()) == pytest.approx(sum(res.seconds.values()))


def test_without_a_run_before_equals_after_and_bad_sets_are_refused(tiny: LoadedModel) -> None:
    res = run_audit(tiny.model, tiny.tokenizer, _sets(), cfg=CFG)
    assert res.attack_aucs("before") == res.attack_aucs("after")
    assert "relearn_recovery" not in res.summary()  # no run's trainable given: no relearning attack
    with pytest.raises(ValueError, match="holdout"):
        run_audit(tiny.model, tiny.tokenizer, {"forget": _sets()["forget"]}, cfg=CFG)
    for bad in (dict(utility_items=-1), dict(quality_items=0), dict(quantize_bits=(1,))):  # refused before any work
        with pytest.raises(ValueError, match="items|bit widths"):
            run_audit(tiny.model, tiny.tokenizer, _sets(), cfg=AuditConfig(**bad))


def test_a_retain_only_model_gives_forget_quality_and_privleak(tiny: LoadedModel) -> None:
    # the model compared with itself: the same truth ratios (KS p-value 1) and the same AUCs (PrivLeak 0)
    cfg = AuditConfig(
        remind=RemindConfig(m=3, k=2), max_items=4, max_new_tokens=4, probe_items=0, relearn=None, surface_items=0
    )
    cfg.retain_model = (tiny.model, tiny.tokenizer)
    out = run_audit(tiny.model, tiny.tokenizer, _sets(), cfg=cfg).summary()
    assert out["forget_quality"] == pytest.approx(1.0)
    for attack in ("loss", "zlib", "min_k", "min_k_pp", "gradnorm"):
        assert out[f"privleak_{attack}"] == pytest.approx(0.0, abs=1e-9)
        assert out[f"{attack}_auc_retain_model"] == pytest.approx(out[f"{attack}_auc_after"])
    assert 0 < out["retain_model_forget_truth_ratio"] <= 1
    # the reference attack against itself: every score L̄_ref − L̄_target is 0, so the AUC is chance
    assert out["reference_auc_after"] == pytest.approx(0.5)
    # forget quality tests every forget item (20), not the 4 audited per split
    assert out["forget_quality_n"] == {"unlearned": 20, "retain_model": 20}


def test_model_utility_with_real_authors_and_world_facts_has_nine_parts(tiny: LoadedModel) -> None:
    from unlearn.data.builtin import utility_sets

    cfg = UTILITY_ONLY
    out = run_audit(tiny.model, tiny.tokenizer, {**_sets(), **utility_sets()}, cfg=cfg).summary()
    assert out["utility_n_parts"] == 9 and out["n_items"]["real_authors"] == 3 and out["n_items"]["world_facts"] == 3
    parts = [out[f"{p}_after"] for p in out["utility_parts"]]
    expected = 0.0 if min(parts) <= 0 else 9 / sum(1 / v for v in parts)
    assert out["model_utility"] == pytest.approx(expected) and out["model_utility_after"] == out["model_utility"]
    assert "retain_utility_after" not in out


def test_each_side_answers_every_set_in_one_generation(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # a decode step's fixed cost is paid once per batch, so the audit asks every set's questions at once
    from unlearn.audit import pipeline
    from unlearn.audit.utility import evaluation_metrics
    from unlearn.data.builtin import utility_sets

    calls, real = [], pipeline.generate_answers
    monkeypatch.setattr(
        pipeline, "generate_answers", lambda m, t, qs, *a, **k: calls.append(len(qs)) or real(m, t, qs, *a, **k)
    )
    cfg = UTILITY_ONLY
    sets = {**_sets(), **utility_sets()}
    res = run_audit(tiny.model, tiny.tokenizer, sets, cfg=cfg)
    assert calls == [4 + 4 + 4 + 3 + 3] * 2  # forget, retain, holdout, Real Authors, World Facts; before and after
    # the same answers and figures as each set asked alone
    alone = real(tiny.model, tiny.tokenizer, [e.question for e in res.items["holdout"]], cfg.max_new_tokens)
    assert res.after["holdout"].generations == alone
    ev = evaluation_metrics(tiny.model, tiny.tokenizer, sets["world_facts"][:3], cfg.max_new_tokens)
    for name, values in ev.items():
        np.testing.assert_allclose(res.evaluation["after"]["world_facts"][name], values, rtol=1e-6)
