"""The forget and retain sets' P̃ as a run measures them: before it (keeping each forget item's
log-probability as the reference NPO and its kin read), along it (the live curves) and at its end."""

from __future__ import annotations

import numpy as np

from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll_sums, set_prob


def item_nll(
    lm: LoadedModel,
    forget: list[Example],
    retain_eval: list[Example],
    max_length: int,
    reference: dict[tuple[str, str], float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each forget and retain item's mean answer NLL; `reference` (given before the run) receives each
    forget item's log π(y|x), which is then the reference's (Context.reference_logprob). Both sets are
    scored in one call: their batches share the chat template's opening and pad less (prefix.py, scoring.py)."""
    sums, counts = answer_nll_sums(lm.model, lm.tokenizer, forget + retain_eval, max_length=max_length)
    nll = sums / counts if len(sums) else sums
    n = len(forget)
    if reference is not None:
        reference.update({(e.question, e.answer): -float(v) for e, v in zip(forget, sums[:n], strict=True)})
    return nll[:n], nll[n:]


def set_probs(
    lm: LoadedModel,
    forget: list[Example],
    retain_eval: list[Example],
    max_length: int,
    reference: dict[tuple[str, str], float] | None = None,
) -> tuple[float, float]:
    """The forget and retain sets' P̃ (`item_nll`)."""
    f, r = item_nll(lm, forget, retain_eval, max_length, reference)
    return set_prob(f), set_prob(r)
