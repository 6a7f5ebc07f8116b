"""Membership-inference scores: hand-computed on small arrays, and the model statistics against
the model's own numbers."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from unlearn.examples import Example
from unlearn.mia import TokenStats, auc, min_k, min_k_pp, reference_score, scores, token_stats, tpr_at_fpr
from unlearn.models import LoadedModel
from unlearn.scoring import answer_nll

EXAMPLES = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Capital of France?", "Paris.")]


def test_min_k_and_min_k_pp_by_hand() -> None:
    logp = np.log(np.array([0.9, 0.5, 0.01, 0.2, 0.7]))
    assert min_k(logp, 0.4) == pytest.approx((math.log(0.01) + math.log(0.2)) / 2)
    ts = TokenStats(logp, mu=np.full(5, -1.0), sigma=np.full(5, 2.0), hit=np.ones(5, bool))
    z = (logp + 1.0) / 2.0
    assert min_k_pp(ts, 0.4) == pytest.approx(np.sort(z)[:2].mean())
    assert min_k(logp, 0.01) == pytest.approx(math.log(0.01))  # at least one token


def test_scores_are_oriented_so_higher_looks_like_a_member() -> None:
    seen = TokenStats(np.log(np.full(4, 0.9)), np.full(4, -0.5), np.full(4, 1.0), np.ones(4, bool))
    unseen = TokenStats(np.log(np.full(4, 0.05)), np.full(4, -0.5), np.full(4, 1.0), np.zeros(4, bool))
    s = scores([seen, unseen], EXAMPLES)
    for name, values in s.items():
        assert values[0] > values[1], name
    text = f"{EXAMPLES[0].question} {EXAMPLES[0].answer}"
    assert s["zlib"][0] == pytest.approx(-seen.loss / len(zlib.compress(text.encode())))
    np.testing.assert_allclose(reference_score([seen, seen], [unseen, seen]), [unseen.loss - seen.loss, 0.0])


def test_auc_and_tpr_at_low_fpr() -> None:
    assert auc(np.array([3.0, 4.0]), np.array([1.0, 2.0])) == 1.0
    assert auc(np.array([1.0, 2.0]), np.array([3.0, 4.0])) == 0.0
    assert auc(np.array([1.0, 3.0]), np.array([2.0, 2.0])) == 0.5
    members, others = np.arange(100, 200.0), np.arange(0, 100.0)
    assert tpr_at_fpr(members, others, 0.01) == 1.0
    assert tpr_at_fpr(others, members, 0.01) == 0.0


def test_token_stats_match_the_model(tiny: LoadedModel) -> None:
    stats = token_stats(tiny.model, tiny.tokenizer, EXAMPLES, batch_size=2)
    np.testing.assert_allclose([s.loss for s in stats], answer_nll(tiny.model, tiny.tokenizer, EXAMPLES), rtol=1e-5)
    # mu and sigma are the mean and std of log p under the model's own distribution: check one position
    from unlearn.prompts import encode

    enc = encode(tiny.tokenizer, EXAMPLES[1])
    with torch.no_grad():
        logits = tiny.model(input_ids=torch.tensor([enc.input_ids])).logits[0]
    first = len(enc.input_ids) - enc.n_answer_tokens - 1  # the position predicting the first answer token
    lp = torch.log_softmax(logits[first].float(), -1)
    mu = float((lp.exp() * lp).sum())
    sd = float(((lp.exp() * lp**2).sum() - mu**2).sqrt())
    assert stats[1].mu[0] == pytest.approx(mu, rel=1e-4) and stats[1].sigma[0] == pytest.approx(sd, rel=1e-4)
    assert len(stats[1].logp) == enc.n_answer_tokens
    argmax = logits[first : first + enc.n_answer_tokens].argmax(-1).numpy()
    np.testing.assert_array_equal(stats[1].hit, argmax == np.array(enc.input_ids[first + 1 :]))
