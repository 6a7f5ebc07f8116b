"""REMIND's decision step: tell forget / retain / holdout items apart from their landscape features.

Features are z-scored inside each cross-validation fold (fit on the training folds only), then a
logistic regression or a random forest is fitted; every item is scored by a model that never saw
it (out-of-fold probabilities). Reported per class, one-vs-rest: ROC-AUC and TPR at 1% FPR.

If, after unlearning, forget items are still told apart from holdout items (never trained on), their
landscapes kept a trace of training: residual memorisation. The verdict of a forget item says which
split its landscape looks like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from unlearn.audit.mia import auc, tpr_at_fpr
from unlearn.errors import UserError

SPLITS = ("forget", "retain", "holdout")
CLASSIFIERS = ("logistic", "forest")
VERDICTS = {"holdout": "looks forgotten", "forget": "residual memorisation", "retain": "residual memorisation"}


@dataclass
class Separation:
    classifier: str
    proba: np.ndarray  # (N, 3) out-of-fold probabilities, columns in SPLITS order
    auc: dict[str, float]  # one-vs-rest ROC-AUC per split
    tpr_at_1pct: dict[str, float]
    macro_auc: float

    def verdicts(self, labels: np.ndarray) -> list[str]:
        """Per item: a forget item whose landscape looks like a holdout item's "looks forgotten",
        like a trained item's "residual memorisation"; other items are named by their split."""
        out = []
        for y, p in zip(labels, self.proba, strict=True):
            like = SPLITS[int(np.argmax(p))]
            out.append(VERDICTS[like] if y == "forget" else ("never seen" if y == "holdout" else "retained"))
        return out


def _model(name: str, seed: int):
    if name == "logistic":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    if name == "forest":
        return make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=200, random_state=seed))
    raise UserError(f"unknown classifier {name!r}: choose one of {', '.join(CLASSIFIERS)}")


def separate(
    features: np.ndarray, labels: np.ndarray, classifier: str = "logistic", folds: int = 5, seed: int = 0
) -> Separation:
    """Out-of-fold separation of the splits present in `labels` (strings from SPLITS)."""
    labels = np.asarray(labels)
    present = [s for s in SPLITS if (labels == s).any()]
    if len(present) < 2:
        raise UserError("REMIND needs items of at least two splits (forget, retain, holdout) to compare")
    smallest = min(int((labels == s).sum()) for s in present)
    folds = min(folds, smallest)
    if folds < 2:
        raise UserError("each split needs at least 2 items for cross-validation")
    y = np.array([present.index(s) for s in labels])
    cv = StratifiedKFold(folds, shuffle=True, random_state=seed)
    proba_present = cross_val_predict(_model(classifier, seed), features, y, cv=cv, method="predict_proba")
    proba = np.zeros((len(labels), len(SPLITS)))
    for c, s in enumerate(present):
        proba[:, SPLITS.index(s)] = proba_present[:, c]
    aucs, tprs = {}, {}
    for s in present:
        col = proba[:, SPLITS.index(s)]
        aucs[s] = auc(col[labels == s], col[labels != s])
        tprs[s] = tpr_at_fpr(col[labels == s], col[labels != s], 0.01)
    return Separation(classifier, proba, aucs, tprs, float(np.mean(list(aucs.values()))))
