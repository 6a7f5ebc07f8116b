"""Does the model know a set? Greedy answer, keyword match and answer probability per item.

Used three ways: the `check-data` command records, for the built-in sets, what the bundled model
knows (so nobody marks "known" by hand); the app's "check what the model knows" button; and the
tests, which re-run the check on a few items and compare with what was recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from unlearn.data.builtin import ASSETS, DataSet, read_set_file
from unlearn.data.examples import Example
from unlearn.data.item_checks import check_item_lengths
from unlearn.data.keywords import keywords_for, mark_keyword
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll, generate_answers, mentions
from unlearn.serve.eta import eta_line

POOLS = ASSETS / "pools"


CHECK_BATCH = 16  # questions generated at once: one padded batch is far quicker than one by one


@dataclass
class Check:
    generation: str  # the model's greedy answer
    correct: bool  # a keyword of the gold answer appears in it
    answer_prob: float  # P̃(gold answer | question) = exp(−mean answer-token NLL)
    matched: str | None = None  # the keyword found in the reply, as it is written there


def check_examples(
    lm: LoadedModel,
    examples: list[Example],
    max_new_tokens: int = 40,
    progress: Callable[[float, str], None] | None = None,
) -> list[Check]:
    """Greedy generation in batches of CHECK_BATCH, then one scoring pass; `progress(fraction, text)`
    hears after each batch how many items are done and about how long is left. Items without
    keywords are checked against derived ones (keywords.py), never against the whole gold sentence.
    An item over the length limit is refused (DataError) before anything is sent to the model."""
    check_item_lengths(examples, "this set", lm.tokenizer)
    t0 = time.perf_counter()

    def answered(done: int, total: int) -> None:
        if progress:  # generation is most of the work: scoring the answers afterwards is one forward a batch
            progress(0.9 * done / total, eta_line("questions answered", done, total, t0))

    questions = [e.question for e in examples]
    gens = generate_answers(lm.model, lm.tokenizer, questions, max_new_tokens, CHECK_BATCH, on_batch=answered)
    probs = np.exp(-answer_nll(lm.model, lm.tokenizer, examples)).tolist()
    out = []
    for g, e, p in zip(gens, examples, probs, strict=True):
        keys = keywords_for(e)
        hit, _ = mark_keyword(g, keys)
        out.append(Check(g, mentions(g, keys), p, hit))
    return out


def with_checks(examples: list[Example], checks: list[Check], checked_with: str) -> list[Example]:
    """Copies of `examples` whose meta records the check (known, answer_prob, generation)."""
    out = []
    for e, c in zip(examples, checks, strict=True):
        meta = dict(e.meta)
        meta.update(
            known=c.correct,
            answer_prob=round(c.answer_prob, 4),
            generation=c.generation,
            matched=c.matched,
            checked_with=checked_with,
        )
        out.append(replace(e, meta=meta))
    return out


def write_set_file(ds: DataSet, path: Path) -> None:
    doc = {
        "name": ds.name,
        "title": ds.title,
        "description": ds.description,
        "knowledge": ds.knowledge,
        "items": [e.to_dict() for e in ds.examples],
    }
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def split_train_eval(examples: list[Example]) -> list[Example]:
    """Alternate items into `train` (the retain loss may use them) and `eval` (only measured),
    so the retain figures show what the model kept, not what the retain loss re-taught."""
    return [replace(e, split="train" if i % 2 == 0 else "eval") for i, e in enumerate(examples)]


def refresh_builtin_checks(lm: LoadedModel, write: bool = True) -> dict[str, Any]:
    """Re-check every built-in set against `lm` and (optionally) write the results into assets/.

    harry_potter and fictitious_authors keep all items with their checks recorded;
    general_knowledge is rebuilt from its pool, keeping only the items the model answers correctly.
    """
    summary: dict[str, Any] = {}
    label = lm.name
    for name in ("harry_potter", "fictitious_authors"):
        path = ASSETS / f"{name}.json"
        ds = read_set_file(path)
        ds.examples = with_checks(ds.examples, check_examples(lm, ds.examples), label)
        summary[name] = {"items": len(ds), "known": sum(e.meta["known"] for e in ds.examples)}
        if write:
            write_set_file(ds, path)
    pool = read_set_file(POOLS / "general_knowledge_pool.json")
    checked = with_checks(pool.examples, check_examples(lm, pool.examples), label)
    known = split_train_eval([e for e in checked if e.meta["known"]])
    summary["general_knowledge"] = {"pool": len(pool), "known": len(known)}
    if write:
        pool.examples = known
        pool.description += f" Kept: the {len(known)} of {len(checked)} pool items {label} answers correctly."
        write_set_file(pool, ASSETS / "general_knowledge.json")
    return summary
