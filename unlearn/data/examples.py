"""One item of a forget / retain / holdout set, whatever file or benchmark it came from.

Every loader (built-in sets, uploads, hub datasets) turns its records into `Example`s,
so that scoring, training and the UI table never care where an item came from.

>>> ex = Example(question="Who wrote Hamlet?", answer="William Shakespeare")
>>> ex.is_qa
True
>>> Example.from_row(ex.to_row()) == ex
True
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from unlearn.errors import UserError

# Columns shown (and editable) in the UI table, in this order.
TABLE_COLUMNS = ["question", "answer", "keywords", "entity", "split"]


@dataclass
class Example:
    """A question/answer pair, or a plain passage (`question == ""`)."""

    question: str  # the prompt; "" for a plain-text passage (loss over all of `answer`)
    answer: str  # the gold answer, or the whole passage
    paraphrased_answer: str | None = None  # TOFU: the "correct" side of the truth ratio
    perturbed_answers: list[str] = field(default_factory=list)  # TOFU: wrong answers
    paraphrased_question: str | None = None  # TOFU / RWKU probe variants
    choices: list[str] = field(default_factory=list)  # WMDP-style multiple choice options
    keywords: list[str] = field(default_factory=list)  # any of these in a generation = correct
    entity: str | None = None  # author / subject: groups items for splits and MELU
    split: str | None = None  # e.g. "forget", "retain", "holdout", "train", "eval"
    meta: dict[str, Any] = field(default_factory=dict)  # recorded checks (known, answer_prob...)

    @property
    def is_qa(self) -> bool:
        return bool(self.question)

    def answer_keywords(self) -> list[str]:
        """What counts as the answer in a free generation: keywords, else the answer itself."""
        return self.keywords or [self.answer]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict, dropping empty optional fields to keep asset files short."""
        d = asdict(self)
        return {k: v for k, v in d.items() if k in ("question", "answer") or v not in (None, [], {})}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Example:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise UserError(f"unknown Example fields {sorted(unknown)}; valid: {sorted(known)}")
        return cls(**d)

    def to_row(self) -> list[Any]:
        """One row of the UI table (TABLE_COLUMNS); lists are shown joined by ' | '."""
        return [
            self.question,
            self.answer,
            " | ".join(self.keywords),
            self.entity or "",
            self.split or "",
        ]

    @classmethod
    def from_row(cls, row: list[Any], base: Example | None = None) -> Example:
        """Rebuild from an edited table row, keeping the fields the table does not show."""
        q, a, kw, ent, sp = (("" if v is None else str(v)) for v in row[: len(TABLE_COLUMNS)])
        extra = asdict(base) if base is not None else {}
        extra.update(
            question=q.strip(),
            answer=a.strip(),
            keywords=[k.strip() for k in kw.split("|") if k.strip()],
            entity=ent.strip() or None,
            split=sp.strip() or None,
        )
        return cls(**extra)


def dumps(examples: list[Example]) -> str:
    """JSON Lines text of a list of examples (stable order, UTF-8)."""
    return "\n".join(json.dumps(e.to_dict(), ensure_ascii=False) for e in examples) + "\n"
