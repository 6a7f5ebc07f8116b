"""Membership-inference scores (evaluation.md): arrays in, numbers out.

Every score is oriented so that **higher means "looks like a member"** (seen in training), so that
ROC-AUC(forget vs holdout) > 0.5 means the attack still tells forget items from never-seen ones:
- LOSS: −L̄ (low loss looks seen)
- zlib: −L̄ / len(zlib(scored text)), the scored text being the answer of a question-answer item
  (the tokens the loss is taken over), as the reference implementations compress it
- Min-K%: mean of the lowest ⌊k·n⌋ (at least 1) token log-probs, k = 0.4 (Shi et al. 2024, and the
  Min-K%++ authors' `k_length = int(len * ratio)`)
- Min-K%++: the same over z_t = (log p(x_t) − μ_t) / σ_t, μ_t and σ_t the mean and std of log p
  under the model's own next-token distribution at t (Zhang et al. 2024, arXiv 2404.02936)
- Reference: L̄_ref − L̄_target with an independent reference model that never saw the forget set (the
  retain-only model): the target finds a member easier than a model that never saw it did
- GradNorm (gradnorm.py): −‖∇θ L̄‖, members sit where the loss is flat

Not a membership attack, and named so: the change score L̄_after − L̄_before, how much the run moved
each item. It separates what a run was trained on from the rest by construction, so a high AUC is
expected of any run that worked.

PrivLeak (MUSE, Shi et al. 2024, arXiv 2407.06460) orients the AUC the other way (forget labelled
non-member): AUC' = 1 − AUC, PrivLeak = (AUC'_unlearned − AUC'_retrain) / AUC'_retrain × 100, so a
model that still knows the forget set scores near −100% and one as private as the retrained model 0%.

>>> token_logp = np.log(np.array([0.9, 0.5, 0.01]))
>>> round(min_k(token_logp, 0.4), 3)  # ⌊0.4 · 3⌋ = 1 lowest: log 0.01
-4.605
>>> privleak(0.99, 0.5)  # a model that has not unlearned: AUC' 0.01 against 0.5
-98.0
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import roc_auc_score, roc_curve
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.data.batching import batches
from unlearn.data.examples import Example
from unlearn.model.span_forward import scoring_logits
from unlearn.train.losses import shift

K_DEFAULT = 0.4


@dataclass
class TokenStats:
    """Per answer token t of one example: log p(x_t), and the mean μ_t and std σ_t of log p under
    the model's next-token distribution there (what Min-K%++ normalises by)."""

    logp: np.ndarray  # (A,)
    mu: np.ndarray  # (A,)
    sigma: np.ndarray  # (A,)
    hit: np.ndarray  # (A,) bool: the teacher-forced argmax is the answer token (TOFU's memorisation metrics)

    @property
    def loss(self) -> float:
        return float(-self.logp.mean())


def logit_stats(logits: torch.Tensor, labels: torch.Tensor) -> list[TokenStats]:
    """Each row's `TokenStats` from its answer logits and labels (`forward.answer_logits`' pair)."""
    logits, target, mask = shift(logits, labels)
    logp = torch.log_softmax(logits, -1)  # (B, W, V)
    p = logp.exp()
    mu = (p * logp).sum(-1)  # (B, W): E[log p]
    sigma = ((p * logp.square()).sum(-1) - mu.square()).clamp_min(1e-12).sqrt()  # (B, W)
    gold = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1)  # (B, W)
    hit = logits.argmax(-1) == target  # (B, W)
    out = []
    for r in range(target.shape[0]):
        m = mask[r]
        arrays = (gold[r, m], mu[r, m], sigma[r, m], hit[r, m])
        out.append(TokenStats(*(a.cpu().numpy() for a in arrays)))
    return out


@torch.inference_mode()
def token_stats(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batch_size: int = 8,
    max_length: int = 256,
) -> list[TokenStats]:
    """One batched forward per `batch_size` examples; the head over the answer window only. Small
    batches: μ and σ need several (B, W, V) tensors (8 x 60 x 49,152 floats is 94 MB each; 20 items
    take 2.4 s in batches of 4 and 2.1 s in batches of 8 on the bundled model, 2 cores). The audit
    reads the same figures from REMIND's forward of each item (remind.py), which computes them anyway."""
    device = next(model.parameters()).device
    out: list[TokenStats] = []
    for _, batch in batches(examples, tokenizer, batch_size, max_length, device):
        # rows that open alike (a chat template's system prompt) run their shared opening once (prefix.py)
        out += logit_stats(*scoring_logits(model, batch))
    return out


def _lowest_mean(values: np.ndarray, k: float) -> float:
    n = max(1, math.floor(k * len(values)))  # the authors' int(len * ratio), at least one token
    return float(np.sort(values)[:n].mean())


def min_k(logp: np.ndarray, k: float = K_DEFAULT) -> float:
    return _lowest_mean(logp, k)


def min_k_pp(ts: TokenStats, k: float = K_DEFAULT) -> float:
    return _lowest_mean((ts.logp - ts.mu) / ts.sigma, k)


def zlib_score(ts: TokenStats, text: str) -> float:
    return -ts.loss / max(len(zlib.compress(text.encode("utf-8"))), 1)


def scores(stats: Sequence[TokenStats], examples: Sequence[Example], k: float = K_DEFAULT) -> dict[str, np.ndarray]:
    """Every single-model attack's score per example (higher = looks like a member)."""
    texts = [e.answer for e in examples]  # what the loss is taken over: the answer, or a whole passage
    return {
        "loss": np.array([-s.loss for s in stats]),
        "zlib": np.array([zlib_score(s, t) for s, t in zip(stats, texts, strict=True)]),
        "min_k": np.array([min_k(s.logp, k) for s in stats]),
        "min_k_pp": np.array([min_k_pp(s, k) for s in stats]),
    }


def reference_score(target: Sequence[TokenStats], reference: Sequence[TokenStats]) -> np.ndarray:
    """The reference attack: L̄_ref − L̄_target, the reference model one that never saw the forget
    set. High where the target finds an item easier than a model that never saw it."""
    return np.array([r.loss - t.loss for t, r in zip(target, reference, strict=True)])


def change_score(before: Sequence[TokenStats], after: Sequence[TokenStats]) -> np.ndarray:
    """L̄_after − L̄_before: how much the run moved each item. Not a membership attack: a run that
    worked raises the loss of what it was trained on most, so its AUC is high by construction."""
    return np.array([a.loss - b.loss for a, b in zip(after, before, strict=True)])


def privleak(auc_unlearned: float, auc_retrain: float) -> float | None:
    """MUSE's PrivLeak in percent, from AUCs oriented as here (forget = member, higher = member):
    MUSE labels forget 0, so its AUC' = 1 − AUC; (AUC'_unlearned − AUC'_retrain) / AUC'_retrain × 100.
    None when the retrained model's AUC' is 0 (the ratio has no value)."""
    a_unl, a_ret = 1.0 - auc_unlearned, 1.0 - auc_retrain
    return (a_unl - a_ret) / a_ret * 100 if a_ret else None


def auc(members: np.ndarray, others: np.ndarray) -> float:
    """ROC-AUC of telling members (label 1) from others by the score (higher = member)."""
    y = np.r_[np.ones(len(members)), np.zeros(len(others))]
    return float(roc_auc_score(y, np.r_[members, others]))


def roc(members: np.ndarray, others: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false-positive rates, true-positive rates) of the same test, for a ROC curve."""
    y = np.r_[np.ones(len(members)), np.zeros(len(others))]
    fpr, tpr, _ = roc_curve(y, np.r_[members, others])
    return fpr, tpr


def tpr_at_fpr(members: np.ndarray, others: np.ndarray, fpr: float = 0.01) -> float:
    """True-positive rate at the largest threshold whose false-positive rate is at most `fpr`."""
    f, t = roc(members, others)
    return float(t[f <= fpr].max()) if (f <= fpr).any() else 0.0
