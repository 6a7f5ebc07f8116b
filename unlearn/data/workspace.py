"""A browser session's data: which sets it picked, and the sets it uploaded or edited.

Kept as plain JSON-ready dicts (light enough for per-session state); built-in sets are
referenced by name and read from `assets/` when needed, never copied into the session.
"""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

from unlearn.data.builtin import KNOWLEDGE_NOTES, DataSet, load_selection, selections
from unlearn.data.examples import TABLE_COLUMNS, Example
from unlearn.data.formats import DataError
from unlearn.data.item_checks import check_item, first_words, loaded_tokenizer
from unlearn.data.keywords import keywords_for, mark_keyword, with_keywords

ROLES = ("forget", "retain", "holdout")
DEFAULT_PICKS = {
    "forget": "harry_potter",
    "retain": "general_knowledge",
    "holdout": "fictitious_authors:holdout",
}
UserSets = dict[str, dict[str, Any]]  # name -> {"title", "knowledge", "description", "examples": [dict]}


def to_state(ds: DataSet) -> dict[str, Any]:
    return {
        "title": ds.title,
        "knowledge": ds.knowledge,
        "description": ds.description,
        "examples": [e.to_dict() for e in ds.examples],
    }


def resolve(name: str, user_sets: UserSets) -> DataSet:
    """A set by name: the session's own sets first, then the built-in selections."""
    if not name:
        raise DataError("No set selected: pick one in the drop-down.")
    if name in user_sets:
        d = user_sets[name]
        return DataSet(
            name, d["title"], d["knowledge"], d["description"], [Example.from_dict(x) for x in d["examples"]]
        )
    try:
        return load_selection(name)
    except (ValueError, KeyError) as e:
        raise DataError(f"Unknown set {name!r}: {e}") from None


def choices(user_sets: UserSets) -> list[str]:
    """Names for the set pickers: the session's own sets first (newest last), then built-ins."""
    return list(user_sets) + selections()


def add_set(user_sets: UserSets, ds: DataSet) -> tuple[UserSets, str]:
    """A copy of `user_sets` with `ds` added under a free name (never overwrites an earlier set)."""
    if not ds.examples:
        raise DataError(f"{ds.name} has no items.")
    ds = DataSet(ds.name, ds.title, ds.knowledge, ds.description, with_keywords(ds.examples)[0])
    name, k = ds.name, 2
    taken = set(user_sets) | set(selections())
    while name in taken:
        name, k = f"{ds.name} ({k})", k + 1
    out = dict(user_sets)
    out[name] = to_state(ds)
    return out, name


TABLE_LIMIT = 1000  # rows sent to the browser's table: a 100,000-item upload would freeze the page


def table(ds: DataSet) -> list[list[Any]]:
    """Rows for the editable preview table (TABLE_COLUMNS), plus the recorded check if any (known,
    P(answer), and the greedy reply as Markdown with the keyword it matched in bold); the first
    TABLE_LIMIT items only (apply_edits keeps the rest)."""
    rows = []
    for e in ds.examples[:TABLE_LIMIT]:
        known = e.meta.get("known")
        prob = e.meta.get("answer_prob")
        reply = e.meta.get("generation")
        shown = "" if reply is None else (mark_keyword(reply, keywords_for(e))[1] or "*(no text)*")
        rows.append(
            e.to_row() + ["" if known is None else ("yes" if known else "no"), "" if prob is None else prob, shown]
        )
    return rows


TABLE_HEADERS = TABLE_COLUMNS + ["known", "P(answer)", "greedy reply (keyword in bold)"]
# the reply is rendered (escaped, keyword in bold); P(answer) stays "str" so an unchecked item shows blank, not 0
TABLE_TYPES = ["str"] * len(TABLE_COLUMNS) + ["str", "str", "markdown"]


def apply_edits(ds: DataSet, rows: list[list[Any]], tokenizer: Any | None = None) -> DataSet:
    """The set as edited in the table. Rows beyond the original ones are new items; a row whose
    question and answer are both empty is dropped; a row with an answer but no question becomes a
    plain passage. Fields the table does not show are kept from the original item. Items past the
    table's first TABLE_LIMIT rows were never shown, so they are kept as they were (before new rows).
    A row with a field over MAX_ITEM_TOKENS is refused (counted with `tokenizer`; None: the loaded
    model's, if any, else in characters)."""
    tokenizer = tokenizer if tokenizer is not None else loaded_tokenizer()
    shown = min(len(ds.examples), TABLE_LIMIT)
    out: list[Example] = []
    new: list[Example] = []
    for i, row in enumerate(rows):
        cells = ["" if c is None else str(c) for c in list(row)[: len(TABLE_COLUMNS)]]
        cells += [""] * (len(TABLE_COLUMNS) - len(cells))
        if not cells[0].strip() and not cells[1].strip():
            continue
        if not cells[1].strip():
            raise DataError(f"Row {i + 1}: the answer is empty. Fill it in or clear the whole row to drop it.")
        base = ds.examples[i] if i < shown else None
        ex = Example.from_row(cells, base)
        check_item(ex, f'Row {i + 1} ("{first_words(ex)}")', tokenizer)
        if base is not None and (ex.question, ex.answer) != (base.question, base.answer):
            ex.meta = {}  # an edited item's recorded check no longer applies
        (out if base is not None else new).append(ex)
    out += ds.examples[shown:] + new
    if not out:
        raise DataError("The edited table has no items left.")
    base_name = ds.name.removesuffix(" (edited)")
    return DataSet(f"{base_name} (edited)", ds.title, ds.knowledge, ds.description, out)


def knowledge_status(role: str, ds: DataSet, taught: dict[str, Any] | None) -> tuple[str, str]:
    """Whose knowledge a selected set is, and a warning where the loaded model cannot know it."""
    note = KNOWLEDGE_NOTES.get(ds.knowledge, ds.knowledge)
    warn = ""
    if ds.knowledge == "taught":
        family = ds.name.split(":")[0].removesuffix(" (edited)")
        taught_sets = (taught or {}).get("set", "")
        if family in taught_sets and role != "holdout":
            note += ", and the loaded model has been taught it"
        elif role == "holdout":
            note = "never-seen items (the holdout of a taught set: no model is taught them)"
        else:
            warn = "the loaded model has not been taught this set, so there is nothing to forget yet: use *Teach*."
    return note, warn


def examples_dicts(ds: DataSet) -> list[dict[str, Any]]:
    return [asdict(e) for e in ds.examples]


def split_retain(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """(train, eval) parts of a retain set: its own `eval` split where it has one, else every other
    item. The eval part is only measured, never trained on, so retain figures show what was kept."""
    held = [e for e in examples if e.split == "eval"]
    if held:
        return [e for e in examples if e.split != "eval"], held
    if len(examples) < 2:
        return list(examples), list(examples)
    return examples[0::2], examples[1::2]


HOLDOUT_SHARE = 0.25  # of a set split into forget + holdout: enough holdout items for the attacks' AUCs
HOLDOUT_SEED = 0  # the same set splits the same way every time, so audits of it can be compared


def split_holdout(ds: DataSet, share: float = HOLDOUT_SHARE, seed: int = HOLDOUT_SEED) -> tuple[DataSet, DataSet]:
    """`ds` as `name:forget` (to unlearn) and `name:holdout` (never trained on), drawn at random with
    `seed`. Items that name an entity stay together, so one author is never on both sides (the
    attacks would then tell authors apart, as with a holdout of another topic)."""
    if not 0 < share < 1:
        raise DataError(f"the holdout share must be between 0 and 1, got {share}")
    groups: dict[str, list[Example]] = {}
    for i, e in enumerate(ds.examples):
        groups.setdefault(e.entity or f"#{i}", []).append(e)
    keys = list(groups)
    random.Random(seed).shuffle(keys)
    want = max(2, round(share * len(ds.examples)))
    held: list[Example] = []
    for k in keys:
        if len(held) >= want:
            break
        held += groups[k]
    held_ids = {id(e) for e in held}  # by identity: two items may be equal and still both belong
    rest = [e for e in ds.examples if id(e) not in held_ids]
    if len(held) < 2 or len(rest) < 2:
        raise DataError(
            f"{ds.name} has {len(ds.examples)} items in {len(keys)} groups: too few to split into a forget and a "
            "holdout part of at least 2 items each. Add items, or pick a holdout of the same source."
        )
    base = ds.name
    note = f" Split from {ds.name} with seed {seed}: {len(rest)} forget, {len(held)} holdout items."
    return (
        DataSet(f"{base}:forget", ds.title, ds.knowledge, ds.description + note, rest),
        DataSet(f"{base}:holdout", ds.title, ds.knowledge, ds.description + note, held),
    )
