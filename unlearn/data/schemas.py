"""Map records (dicts from a file or a hub dataset) to `Example`s.

The benchmark layouts of docs/spec (TOFU, MUSE, WMDP, RWKU) are recognised by their exact field
names; anything else falls back to common names (prompt/output, text...), or the user maps columns
by hand with a `ColumnMapping`.

>>> rows = [{"question": "Capital of France?", "choices": ["Rome", "Paris"], "answer": 1}]
>>> schema, mapping = detect_schema(rows)
>>> schema, to_examples(rows, mapping, "wmdp.json")[0].answer
('wmdp', 'Paris')
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from unlearn.data.examples import Example
from unlearn.data.formats import DataError, parse_json, read_records
from unlearn.data.item_checks import check_item_lengths, loaded_tokenizer


@dataclass
class ColumnMapping:
    """Which record field feeds which `Example` field (None = not used).

    Either `text` (plain passages) or `question` + `answer` must be set. With `choices` set, the
    answer field holds the index of the right choice (WMDP style).
    """

    question: str | None = None
    answer: str | None = None
    paraphrased_answer: str | None = None
    perturbed_answers: str | None = None
    paraphrased_question: str | None = None
    choices: str | None = None
    entity: str | None = None
    text: str | None = None


# Generic fallbacks, in order of preference (matched case-insensitively).
_QUESTION_NAMES = ("question", "prompt", "input", "instruction", "query")
_ANSWER_NAMES = ("answer", "output", "response", "completion", "target", "gt")
_TEXT_NAMES = ("text", "content", "passage")
_ENTITY_NAMES = ("entity", "subject", "author")


def columns(records: list[dict]) -> list[str]:
    """All field names, in the order they are first seen (for the column-mapping dropdowns)."""
    seen: dict[str, None] = {}
    for r in records:
        if isinstance(r, dict):
            seen.update(dict.fromkeys(r))
    return list(seen)


def detect_schema(records: list[dict]) -> tuple[str, ColumnMapping]:
    """Recognise the layout of `records`: a schema name and the mapping to use."""
    cols = columns(records)
    has = set(cols).issuperset
    if has({"subject", "query", "answer"}):  # RWKU forget_level1/2/3, neighbor_level1/2
        return "rwku", ColumnMapping(question="query", answer="answer", entity="subject")
    if has({"text", "subject"}):  # RWKU mia_forget / mia_retain
        return "rwku_mia", ColumnMapping(text="text", entity="subject")
    if has({"target"}) and not set(cols) & {*_QUESTION_NAMES, "text"}:  # RWKU forget_target
        # The target is an entity name; its introduction, where present, is the passage.
        return "rwku_target", ColumnMapping(text="intro" if "intro" in cols else "target", entity="target")
    if has({"question", "choices", "answer"}):
        return "wmdp", ColumnMapping(question="question", answer="answer", choices="choices")
    if has({"question", "answer"}):  # TOFU (MUSE knowmem has the same two fields)
        optional = ("paraphrased_answer", "paraphrased_question")
        return "tofu", ColumnMapping(
            question="question",
            answer="answer",
            perturbed_answers="perturbed_answer" if "perturbed_answer" in cols else None,
            **{k: (k if k in cols else None) for k in optional},
        )
    if has({"prompt", "gt"}):
        return "muse_verbmem", ColumnMapping(question="prompt", answer="gt")
    if has({"text"}):  # MUSE raw, WMDP corpora, plain-text uploads
        return "text", ColumnMapping(text="text")

    lower = {c.strip().lower(): c for c in reversed(cols)}  # first spelling wins

    def pick(names: tuple[str, ...]) -> str | None:
        return next((lower[n] for n in names if n in lower), None)

    question, answer, text = pick(_QUESTION_NAMES), pick(_ANSWER_NAMES), pick(_TEXT_NAMES)
    entity = pick(_ENTITY_NAMES)
    if question and answer and question != answer:
        return "generic", ColumnMapping(question=question, answer=answer, entity=entity)
    if text:
        return "text", ColumnMapping(text=text, entity=entity)
    shown = ", ".join(cols[:30]) + (" ..." if len(cols) > 30 else "") or "(none)"
    raise DataError(
        f"cannot tell which columns hold the questions and answers; columns found: {shown}. "
        "Map the columns by hand (question + answer, or text for plain passages)."
    )


def _str(value: Any, where: str, field: str, required: bool = True) -> str | None:
    """A stripped string; numbers are accepted as text, lists and objects are not."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise DataError(f"{where}: field '{field}' is empty: fill it in or drop the record.")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DataError(f"{where}: field '{field}' holds {type(value).__name__}, expected text.")
    return str(value).strip()


def _str_list(value: Any, where: str, field: str) -> list[str]:
    """A list of strings; a single string counts as a list of one, a JSON list in a CSV cell is read."""
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = parse_json(value, f"{where}: field '{field}'")  # a CSV cell can nest as deep as a file
        except json.JSONDecodeError:
            pass
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DataError(f"{where}: field '{field}' must be a string or a list of strings.")
    return [v.strip() for v in value if v.strip()]


def _choice(value: Any, choices: list[str], where: str, field: str) -> str:
    """The right option of a multiple-choice item, from its index (WMDP: an int; CSV: a digit string)."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(f"{where}: field '{field}' must be the index of the right choice (0, 1, ...).")
    if not 0 <= value < len(choices):
        raise DataError(
            f"{where}: field '{field}' is {value}, out of range: there are {len(choices)} choices, "
            f"so it must be 0 to {len(choices) - 1}."
        )
    return choices[value]


def to_examples(records: list[dict], mapping: ColumnMapping, source: str) -> list[Example]:
    """Build one `Example` per record; `source` (a file name or repo id) is named in errors."""
    if not mapping.text and not (mapping.question and mapping.answer):
        raise DataError(f"{source}: map either a text column, or both a question and an answer column.")
    return [_example(rec, mapping, f"{source}, record {i}") for i, rec in enumerate(records, start=1)]


def _example(rec: dict, mapping: ColumnMapping, where: str) -> Example:
    if not isinstance(rec, dict):
        raise DataError(f"{where}: not a record with named fields.")

    def required(field: str) -> Any:
        if rec.get(field) is None:
            raise DataError(f"{where}: field '{field}' is missing: add it, or map another column.")
        return rec[field]

    def optional(field: str | None) -> str | None:
        return _str(rec.get(field), where, field, required=False) if field else None

    entity = optional(mapping.entity)
    if mapping.text:
        return Example(question="", answer=_str(required(mapping.text), where, mapping.text), entity=entity)

    choices: list[str] = []
    if mapping.choices:
        choices = _str_list(required(mapping.choices), where, mapping.choices)
        answer = _choice(required(mapping.answer), choices, where, mapping.answer)
    else:
        answer = _str(required(mapping.answer), where, mapping.answer)
    perturbed = rec.get(mapping.perturbed_answers) if mapping.perturbed_answers else None
    return Example(
        question=_str(required(mapping.question), where, mapping.question),
        answer=answer,
        paraphrased_answer=optional(mapping.paraphrased_answer),
        perturbed_answers=[] if perturbed is None else _str_list(perturbed, where, mapping.perturbed_answers),
        paraphrased_question=optional(mapping.paraphrased_question),
        choices=choices,
        entity=entity,
    )


def load_upload(
    data: bytes,
    filename: str,
    mapping: ColumnMapping | None = None,
    text_mode: str = "auto",
    tokenizer: Any | None = None,
) -> tuple[str, list[Example]]:
    """Read an uploaded file into (schema name, examples); the schema is "custom" for a given mapping."""
    return records_to_examples(read_records(data, filename, text_mode=text_mode), mapping, filename, tokenizer)


def records_to_examples(
    records: list[dict], mapping: ColumnMapping | None, source: str, tokenizer: Any | None = None
) -> tuple[str, list[Example]]:
    """Records with a given mapping ("custom"), or with the detected one; errors name `source`.
    An item with a field over MAX_ITEM_TOKENS is refused, counted with `tokenizer` (None: the loaded
    model's, if one is loaded, else in characters)."""
    if mapping is None:
        try:
            schema, mapping = detect_schema(records)
        except DataError as e:
            raise DataError(f"{source}: {e}") from None
    else:
        schema = "custom"
    examples = to_examples(records, mapping, source)
    check_item_lengths(examples, source, tokenizer if tokenizer is not None else loaded_tokenizer())
    return schema, examples
