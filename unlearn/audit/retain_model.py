"""Figures that need a model trained without the forget set (TOFU's "retain model", MUSE's
"retrain", the reference attack's reference model):

- forget quality (TOFU, Maini et al. 2024, sec. 2.5.1): the p-value of a two-sample KS test between
  the forget-set truth ratios of the unlearned model and of the retain-only model, on every forget
  item by default (TOFU's forget01/05/10 are 40/200/400 items, all of them tested)
- PrivLeak (MUSE, Shi et al. 2024, arXiv 2407.06460): mia.privleak of each attack's AUC under the
  unlearned model against the same attack's AUC under the retain-only model; MUSE's own is Min-K%
  (k = 0.4), reported as "PrivLeak", the other attacks' under their own names
- the reference attack's scores: the retain-only model's answer losses on the audited items

The retain-only model may have its own tokenizer: everything it scores goes through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.gradnorm import gradient_norms, gradnorm_scores
from unlearn.audit.mia import TokenStats, auc, scores, token_stats
from unlearn.audit.tofu_metrics import forget_quality, truth_ratio_score, truth_ratios, variants
from unlearn.data.examples import Example
from unlearn.model.scoring import answer_nll


def forget_ratios(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: Sequence[Example]) -> np.ndarray:
    """Per item R = P̃_perturbed / P̃_paraphrased under `model` (NaN without perturbed answers)."""
    flat, correct, wrong = variants(items)
    return truth_ratios(answer_nll(model, tokenizer, flat), correct, wrong)


@dataclass
class RetainModelScores:
    """What the retain-only model gives the audit."""

    stats: dict[str, list[TokenStats]]  # split -> per audited item (forget, holdout): the reference losses
    attacks: dict[str, dict[str, np.ndarray]]  # split -> attack -> scores under the retain-only model
    ratios: np.ndarray  # forget-set truth ratios, every item tested for forget quality

    def aucs(self) -> dict[str, float]:
        """Each attack's forget-vs-holdout AUC under the retain-only model (the "retrain" AUC)."""
        return {a: auc(self.attacks["forget"][a], self.attacks["holdout"][a]) for a in self.attacks["forget"]}


def score_retain_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[Example],
    holdout: Sequence[Example],
    quality_items: Sequence[Example],
    k: float = 0.4,
    gradnorm: bool = False,
) -> RetainModelScores:
    """The retain-only model's token statistics and attack scores on the audited forget and holdout
    items (with `gradnorm`, GradNorm's too), and its truth ratios on `quality_items` (the forget items
    forget quality tests)."""
    stats = {"forget": token_stats(model, tokenizer, forget), "holdout": token_stats(model, tokenizer, holdout)}
    attacks = {s: scores(stats[s], items, k) for s, items in (("forget", forget), ("holdout", holdout))}
    if gradnorm:  # the retrain AUC of GradNorm, for its PrivLeak
        for s, items in (("forget", forget), ("holdout", holdout)):
            attacks[s]["gradnorm"] = gradnorm_scores(gradient_norms(model, tokenizer, items))
    return RetainModelScores(stats, attacks, forget_ratios(model, tokenizer, quality_items))


def quality_figures(unlearned: np.ndarray, retain_model: np.ndarray) -> dict[str, object]:
    """Forget quality and the sample sizes it was computed from (items without perturbed answers left out)."""
    mine, theirs = unlearned[np.isfinite(unlearned)], retain_model[np.isfinite(retain_model)]
    return {
        "forget_quality": forget_quality(mine, theirs) if len(mine) and len(theirs) else None,
        "forget_quality_n": {"unlearned": len(mine), "retain_model": len(theirs)},
        "retain_model_forget_truth_ratio": truth_ratio_score(theirs, True) if len(theirs) else None,
    }
