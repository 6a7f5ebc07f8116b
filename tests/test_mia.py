"""Membership-inference scores: hand-computed on small arrays, and the model statistics against
the model's own numbers.

References each test follows: Min-K% (Shi et al. 2024, arXiv 2310.16789) and Min-K%++ (Zhang et al.
2024, arXiv 2404.02936; the authors' run.py: `k_length = int(len(scores) * ratio)`, μ and σ² under the
model's next-token distribution); zlib (Carlini et al. 2021, and open-unlearning's `mia_zlib`, which
compresses the labelled answer tokens only); the reference attack (Carlini et al. 2021 / 2022,
L̄_ref − L̄_target with an independent reference model); PrivLeak (MUSE, Shi et al. 2024,
arXiv 2407.06460, metrics/privleak.py: forget labelled 0, holdout 1, Min-K% with k = 0.4)."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
import torch

from unlearn.audit.mia import (
    TokenStats,
    auc,
    change_score,
    min_k,
    min_k_pp,
    privleak,
    reference_score,
    scores,
    token_stats,
    tpr_at_fpr,
)
from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll

EXAMPLES = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Capital of France?", "Paris.")]


def test_min_k_and_min_k_pp_by_hand() -> None:
    logp = np.log(np.array([0.9, 0.5, 0.01, 0.2, 0.7]))
    assert min_k(logp, 0.4) == pytest.approx((math.log(0.01) + math.log(0.2)) / 2)
    ts = TokenStats(logp, mu=np.full(5, -1.0), sigma=np.full(5, 2.0), hit=np.ones(5, bool))
    z = (logp + 1.0) / 2.0
    assert min_k_pp(ts, 0.4) == pytest.approx(np.sort(z)[:2].mean())
    assert min_k(logp, 0.01) == pytest.approx(math.log(0.01))  # at least one token


def test_min_k_takes_the_floor_of_k_times_n_as_the_authors_code() -> None:
    # n = 3 tokens, k = 0.4: int(0.4 * 3) = 1 lowest token (ceil would take 2); n = 7: int(2.8) = 2 (ceil: 3)
    logp = np.log(np.array([0.9, 0.5, 0.01]))
    assert min_k(logp, 0.4) == pytest.approx(math.log(0.01))
    seven = np.log(np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.2, 0.1]))
    assert min_k(seven, 0.4) == pytest.approx((math.log(0.1) + math.log(0.2)) / 2)
    ts = TokenStats(seven, mu=np.zeros(7), sigma=np.ones(7), hit=np.ones(7, bool))
    assert min_k_pp(ts, 0.4) == pytest.approx((math.log(0.1) + math.log(0.2)) / 2)


def test_scores_are_oriented_so_higher_looks_like_a_member() -> None:
    seen = TokenStats(np.log(np.full(4, 0.9)), np.full(4, -0.5), np.full(4, 1.0), np.ones(4, bool))
    unseen = TokenStats(np.log(np.full(4, 0.05)), np.full(4, -0.5), np.full(4, 1.0), np.zeros(4, bool))
    s = scores([seen, unseen], EXAMPLES)
    for name, values in s.items():
        assert values[0] > values[1], name


def test_zlib_compresses_the_answer_only() -> None:
    # "Anna Berg wrote it." compresses to 27 bytes with zlib level 6 (len(zlib.compress(b"Anna Berg wrote it.")));
    # the question + answer would be 46, as the old code compressed. L̄ = −log 0.9 = 0.10536; score −0.10536 / 27.
    seen = TokenStats(np.log(np.full(4, 0.9)), np.full(4, -0.5), np.full(4, 1.0), np.ones(4, bool))
    assert len(zlib.compress(b"Anna Berg wrote it.")) == 27
    assert scores([seen], EXAMPLES[:1])["zlib"][0] == pytest.approx(-0.1053605 / 27, rel=1e-5)
    passage = Example("", "A passage with no question at all.")
    assert scores([seen], [passage])["zlib"][0] == pytest.approx(
        -seen.loss / len(zlib.compress(passage.answer.encode()))
    )


def test_reference_attack_against_an_independent_model_and_the_change_score() -> None:
    # target losses 0.2 and 1.0, reference-model losses 1.5 and 1.1: scores 1.3 and 0.1 (higher = member)
    target = [
        TokenStats(np.array([-0.2]), np.zeros(1), np.ones(1), np.ones(1, bool)),
        TokenStats(np.array([-1.0]), np.zeros(1), np.ones(1), np.ones(1, bool)),
    ]
    ref = [
        TokenStats(np.array([-1.5]), np.zeros(1), np.ones(1), np.ones(1, bool)),
        TokenStats(np.array([-1.1]), np.zeros(1), np.ones(1), np.ones(1, bool)),
    ]
    np.testing.assert_allclose(reference_score(target, ref), [1.3, 0.1])
    # the change score L̄_after − L̄_before (before = target's losses, after = ref's here) is a separate figure
    np.testing.assert_allclose(change_score(target, ref), [1.3, 0.1])
    np.testing.assert_allclose(change_score(ref, target), [-1.3, -0.1])


def test_privleak_is_oriented_as_muse() -> None:
    # MUSE labels forget 0 and holdout 1, so its AUC' = 1 − AUC here. Unlearned AUC 0.9 (AUC' 0.1),
    # retrain AUC 0.4 (AUC' 0.6): (0.1 − 0.6) / 0.6 = −83.33%. The old formula (AUC − AUC_r) / AUC_r gave +125%.
    assert privleak(0.9, 0.4) == pytest.approx(-83.3333, abs=1e-3)
    # a model that has not unlearned tells forget from holdout perfectly (AUC 1): −100% against a retrain at 0.5
    assert privleak(1.0, 0.5) == pytest.approx(-100.0)
    assert privleak(0.5, 0.5) == 0.0
    # over-unlearned: forget looks less seen than holdout (AUC 0.2, AUC' 0.8): +60% against 0.5
    assert privleak(0.2, 0.5) == pytest.approx(60.0)
    assert privleak(0.7, 1.0) is None  # AUC'_retrain = 0: no ratio


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
    from unlearn.data.prompts import encode

    enc = encode(tiny.tokenizer, EXAMPLES[1])
    with torch.no_grad():
        logits = tiny.model(input_ids=torch.tensor([enc.input_ids])).logits[0]
    first = len(enc.input_ids) - enc.n_answer_tokens - 1  # the position predicting the first answer token
    lp = torch.log_softmax(logits[first].float(), -1)
    mu = float((lp.exp() * lp).sum())
    sd = float(((lp.exp() * lp**2).sum() - mu**2).sqrt())
    # sigma = sqrt(E[lp^2] - mu^2) loses about three digits to cancellation (mu^2 ~ 35, variance ~ 0.015), so
    # the batched SDPA forward and this unpadded one, equal to ~1e-7 in float32, agree on it to ~1e-4 only
    assert stats[1].mu[0] == pytest.approx(mu, rel=1e-4) and stats[1].sigma[0] == pytest.approx(sd, rel=1e-3)
    assert len(stats[1].logp) == enc.n_answer_tokens
    argmax = logits[first : first + enc.n_answer_tokens].argmax(-1).numpy()
    np.testing.assert_array_equal(stats[1].hit, argmax == np.array(enc.input_ids[first + 1 :]))
