"""Before | after for one prompt, and Captum attribution, on the tiny model."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode, question_mask
from unlearn.inspection.attribution import attribute
from unlearn.inspection.compare import Decoding, SessionResults, compare
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll
from unlearn.train.params import make_trainable

EX = Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")


def _changed(tiny: LoadedModel):
    """A LoRA 'run' whose adapters are non-zero, so after differs from before."""
    tr = make_trainable(tiny.model, "lora")
    torch.manual_seed(1)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.5)
    return tr


def test_compare_probes_both_sides_and_leaves_the_model_as_it_was(tiny: LoadedModel) -> None:
    tr = _changed(tiny)
    weights = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    c = compare(tiny.model, tiny.tokenizer, tr.reference, EX, Decoding(max_new_tokens=6), True, "run")
    nll_after = answer_nll(tiny.model, tiny.tokenizer, [EX])[0]
    with tr.reference():
        nll_before = answer_nll(tiny.model, tiny.tokenizer, [EX])[0]
    a = c.before.probe.answer_start
    np.testing.assert_allclose(-c.before.probe.gold_logprob[a:].mean(), nll_before, rtol=1e-5)
    np.testing.assert_allclose(-c.after.probe.gold_logprob[a:].mean(), nll_after, rtol=1e-5)
    assert nll_before != pytest.approx(nll_after)
    assert c.target == "gold answer" and set(c.seconds) == {"generate", "probe"}
    for n, p in tiny.model.named_parameters():
        assert torch.equal(p, weights[n])  # the adapters are still on: the model is still "after"


def test_same_seed_same_sampling_for_both_sides_when_nothing_changed(tiny: LoadedModel) -> None:
    dec = Decoding(max_new_tokens=8, sample=True, temperature=1.0, seed=3)
    # has_run=True forces both sides to be computed (without a run the first is reused)
    c = compare(tiny.model, tiny.tokenizer, contextlib.nullcontext, EX, dec, True, "self")
    assert c.before.generation == c.after.generation  # same weights, same seed: same text
    assert c.before.probe is not c.after.probe
    np.testing.assert_array_equal(c.before.probe.gold_logprob, c.after.probe.gold_logprob)
    reused = compare(tiny.model, tiny.tokenizer, contextlib.nullcontext, EX, dec, False, "self")
    assert reused.before.probe is reused.after.probe  # no run: computed once
    with pytest.raises(ValueError, match="max new tokens"):
        compare(tiny.model, tiny.tokenizer, contextlib.nullcontext, EX, Decoding(max_new_tokens=0), False, "self")


def test_free_text_is_scored_on_the_generation_before(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    # the random tiny model mostly ends at once; a fixed "generation" makes the flow testable
    monkeypatch.setattr("unlearn.inspection.compare.generate", lambda *a: "Anna Berg wrote it.")
    c = compare(
        tiny.model, tiny.tokenizer, contextlib.nullcontext, Example("Who wrote it?", ""), Decoding(8), False, "self"
    )
    assert c.target == "the model's generation before" and c.example.answer == "Anna Berg wrote it."
    assert "".join(c.after.probe.tokens[c.after.probe.answer_start :]) == "Anna Berg wrote it."
    monkeypatch.setattr("unlearn.inspection.compare.generate", lambda *a: "")
    with pytest.raises(ValueError, match="generated nothing"):
        compare(tiny.model, tiny.tokenizer, contextlib.nullcontext, Example("Who?", ""), Decoding(8), False, "self")


def test_ablation_attribution_is_the_drop_in_answer_log_probability(tiny: LoadedModel) -> None:
    res = attribute(tiny.model, tiny.tokenizer, EX, "ablation")
    enc = encode(tiny.tokenizer, EX)
    n_prompt = len(enc.input_ids) - enc.n_answer_tokens
    keep = question_mask(tiny.tokenizer, enc.input_ids[:n_prompt])
    assert len(res.tokens) == sum(keep) == len(res.scores)
    assert "".join(res.tokens) == EX.question  # the question's tokens, not the template's

    def total_logp(ids: list[int]) -> float:
        batch = collate([type(enc)(ids, enc.labels)], tiny.tokenizer.pad_token_id)
        with torch.no_grad():
            logits = tiny.model(input_ids=batch["input_ids"]).logits[0, :-1]
        lp = torch.log_softmax(logits, -1).gather(-1, batch["input_ids"][0, 1:, None])[:, 0]
        return float(lp[n_prompt - 1 :].sum())

    first = keep.index(True)
    ablated = list(enc.input_ids)
    ablated[first] = tiny.tokenizer.pad_token_id
    expected = total_logp(enc.input_ids) - total_logp(ablated)
    assert res.scores[0] == pytest.approx(expected, rel=1e-4, abs=1e-5)


def test_integrated_gradients_attribution_runs_and_clears_gradients(tiny: LoadedModel) -> None:
    res = attribute(tiny.model, tiny.tokenizer, EX, "ig", ig_steps=4)
    assert np.isfinite(res.scores).all() and np.abs(res.scores).sum() > 0
    assert all(p.grad is None for p in tiny.model.parameters())
    with pytest.raises(ValueError, match="choose one of"):
        attribute(tiny.model, tiny.tokenizer, EX, "shap")
    with pytest.raises(ValueError, match="needs a question"):
        attribute(tiny.model, tiny.tokenizer, Example("", "A passage."), "ablation")


def test_session_results_keep_the_newest_sessions_only() -> None:
    kept = SessionResults(max_sessions=2)
    for s in "abc":
        kept.put(s, s.upper())
    assert kept.get("a") is None and kept.get("c") == "C" and list(kept) == ["b", "c"]
    kept.drop("b")
    kept.drop("never-seen")
    assert list(kept) == ["c"]


def test_side_by_side_rows_compute_before_and_after_in_one_pass(tiny: LoadedModel) -> None:
    tr = _changed(tiny)
    ids = torch.tensor([encode(tiny.tokenizer, EX).input_ids] * 2)  # (2, T)
    with torch.no_grad():
        after = tiny.model(input_ids=ids[:1]).logits
        with tr.reference():
            before = tiny.model(input_ids=ids[:1]).logits
        with tr.side_by_side():
            both = tiny.model(input_ids=ids).logits
        assert not torch.allclose(before, after)
        torch.testing.assert_close(both[0], before[0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(both[1], after[0], rtol=1e-5, atol=1e-5)
        after_again = tiny.model(input_ids=ids[:1]).logits  # the hooks are gone
    torch.testing.assert_close(after_again, after)
    # and the comparison built on it gives the generations of the two sides taken one by one
    dec = Decoding(max_new_tokens=6)
    paired = compare(tiny.model, tiny.tokenizer, tr.reference, EX, dec, True, "run", side_by_side=tr.side_by_side)
    alone = compare(tiny.model, tiny.tokenizer, tr.reference, EX, dec, True, "run")
    assert (paired.before.generation, paired.after.generation) == (alone.before.generation, alone.after.generation)
    assert make_trainable(tiny.model, "full").side_by_side() is None  # changed weights: no shared pass
