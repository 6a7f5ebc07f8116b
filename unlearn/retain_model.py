"""Figures that need a model trained without the forget set (TOFU's "retain model", MUSE's
"retrain"): forget quality (KS test between the truth ratios of the unlearned and the retain-only
model on the forget set) and PrivLeak ((AUC_unlearned − AUC_retrain) / AUC_retrain × 100 per attack).

The retain-only model may have its own tokenizer: everything it scores goes through it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .examples import Example
from .mia import auc, scores, token_stats
from .scoring import answer_nll
from .tofu_metrics import forget_quality, truth_ratios, variants


def compare_with_retain_model(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[Example],
    holdout: Sequence[Example],
    unlearned_ratios: np.ndarray,
    unlearned_aucs: Mapping[str, float],
    k: float = 0.4,
) -> dict[str, float | None]:
    """Forget quality and PrivLeak against the retain-only `model`; flat figures for the summary."""
    flat, correct, wrong = variants(forget)
    ratios = truth_ratios(answer_nll(model, tokenizer, flat), correct, wrong)
    mine, theirs = unlearned_ratios[np.isfinite(unlearned_ratios)], ratios[np.isfinite(ratios)]
    out: dict[str, float | None] = {
        "forget_quality": forget_quality(mine, theirs) if len(mine) and len(theirs) else None,
        "retain_model_forget_truth_ratio": float(np.mean(np.minimum(theirs, 1 / theirs))) if len(theirs) else None,
    }
    att = {
        s: scores(token_stats(model, tokenizer, items), items, k)
        for s, items in (("forget", forget), ("holdout", holdout))
    }
    for attack, mine_auc in unlearned_aucs.items():
        theirs_auc = auc(att["forget"][attack], att["holdout"][attack])
        out[f"{attack}_auc_retain_model"] = theirs_auc
        out[f"privleak_{attack}"] = (mine_auc - theirs_auc) / theirs_auc * 100 if theirs_auc else None
    return out
