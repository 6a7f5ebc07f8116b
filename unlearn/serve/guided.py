"""The guided demo's fixed story (issue 20): what a class sees, sized to run end to end in about five
minutes on a 2-core laptop with the bundled model.

The model forgets the Harry Potter questions it knows (`harry_potter:known`) while keeping general
knowledge; the audit compares them with Harry Potter questions it never knew (`harry_potter:unknown`,
the holdout: same source, not unlearned) and general-knowledge questions (retain), a few items each,
with REMIND's neighbourhoods and the 4-bit quantization attack. Every step runs the same code as the
tabs (the run is saved and listed in Runs; the audit is saved beside it).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.pipeline import AuditConfig
from unlearn.audit.remind import RemindConfig
from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.data.workspace import split_retain
from unlearn.model.scoring import answer_prob, generate_answers
from unlearn.train.engine import RunSpec

FORGET, HOLDOUT, RETAIN = "harry_potter:known", "harry_potter:unknown", "general_knowledge"
AUDIT_ITEMS = 6  # per split: REMIND's classifier is cross-validated, so a few items each at least
RETAIN_MEASURED = 12  # held-out retain items measured before and after the run (the whole eval split is 41)
ANSWER_TOKENS = 32  # greedy answers shown, and the audit's (ROUGE-L, the quantization attack)


def guide_sets() -> dict[str, list[Example]]:
    """forget, retain_train, retain_eval (the run's) and holdout, retain_audit (the audit's)."""
    train, held = split_retain(load_selection(RETAIN).examples)
    return {
        "forget": load_selection(FORGET).examples,
        "retain_train": train,
        "retain_eval": held[:RETAIN_MEASURED],
        "holdout": load_selection(HOLDOUT).examples[:AUDIT_ITEMS],
    }


def guide_spec() -> RunSpec:
    """The quick demo run: NPO, the quick preset, LoRA r = 8, batch 8, the demo's steps."""
    return RunSpec(method="npo", mode="lora")


def guide_audit() -> AuditConfig:
    """A small audit: REMIND with 3 neighbours per strength and the 4-bit quantization attack; no probes,
    relearning, surfaces, GradNorm or Real Authors / World Facts (each is a button away in the Audit tab)."""
    return replace(
        AuditConfig(),
        remind=RemindConfig(k=3),
        max_new_tokens=ANSWER_TOKENS,
        max_items=AUDIT_ITEMS,
        probe_items=0,
        relearn=None,
        surface_items=0,
        gradnorm=False,
        quantize_bits=(4,),
        utility_items=0,
    )


@dataclass
class Known:
    """What the model answers to one question, and how likely it finds the gold answer."""

    question: str
    gold: str
    answer: str
    p_gold: float  # exp(−mean NLL) of the gold answer's tokens


def knows(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, items: list[Example]) -> list[Known]:
    """The model's greedy answers (one batched generation) and P(gold answer) for each item."""
    answers = generate_answers(model, tokenizer, [e.question for e in items], ANSWER_TOKENS)
    probs = answer_prob(model, tokenizer, items)
    return [Known(e.question, e.answer, a, float(p)) for e, a, p in zip(items, answers, probs, strict=True)]


def lens_depth(prob: np.ndarray, at: int, threshold: float = 0.5) -> int | None:
    """The first layer (from 1) whose logit lens gives the token predicted at position `at` a
    probability of at least `threshold`; None where no layer does. `prob`: (L, T) lens probabilities."""
    hit = np.flatnonzero(np.nan_to_num(prob[:, at], nan=0.0) >= threshold)
    return int(hit[0]) + 1 if len(hit) else None


def meta() -> dict[str, Any]:
    """The audit record's sets, as the Audit tab writes them."""
    sets = {"forget": FORGET, "retain": RETAIN, "holdout": HOLDOUT}
    return {"sets": sets, "retain_model": None, "holdout_note": None}
