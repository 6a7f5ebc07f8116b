"""The built-in sets shipped in `assets/`, and the named selections the app offers.

A selection is `set` or `set:subset`, e.g. `harry_potter:known` (the items the bundled model
answered correctly when the set was checked), `general_knowledge:train`, `fictitious_authors:forget`.

>>> ds = load_selection("fictitious_authors:forget")
>>> ds.knowledge, len({e.entity for e in ds.examples})
('taught', 5)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path

from unlearn.data.examples import Example
from unlearn.data.formats import read_records
from unlearn.data.schemas import records_to_examples  # the upload reader: TOFU's files take the path a user's would
from unlearn.errors import UserError
from unlearn.model.paths import ASSETS

BUILTIN_FILES = {
    "harry_potter": "harry_potter.json",
    "general_knowledge": "general_knowledge.json",
    "fictitious_authors": "fictitious_authors.json",
}
REFUSALS_FILE = "refusals.txt"
# TOFU's Real Authors and World Facts evaluation sets, shipped as published (locuslab/tofu `data/`,
# MIT licence in assets/tofu/LICENSE): JSON Lines with a .json extension, list-valued
# `perturbed_answer`. An audit scores them for TOFU's nine-part model utility.
TOFU_FILES = {
    "tofu_real_authors": ("tofu/real_authors_perturbed.json", "TOFU Real Authors (100 questions about real authors)"),
    "tofu_world_facts": ("tofu/world_facts_perturbed.json", "TOFU World Facts (117 questions about world facts)"),
}
UTILITY_SETS = {"real_authors": "tofu_real_authors", "world_facts": "tofu_world_facts"}  # audit key -> set

# What each kind of knowledge means, shown next to every selected set in the UI.
KNOWLEDGE_NOTES = {
    "own": "the model's own knowledge (learnt in pre-training)",
    "taught": "taught knowledge (invented facts, learnt only through the 'teach' step)",
    "uploaded": "uploaded data",
    "hub": "a hub dataset",
}


@dataclass
class DataSet:
    """A named list of examples with where its knowledge comes from."""

    name: str
    title: str
    knowledge: str  # key of KNOWLEDGE_NOTES
    description: str = ""
    examples: list[Example] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.examples)

    def subset(self, which: str) -> DataSet:
        """Items whose `split` is `which`, or (`which == "known"`) that the model knew when checked."""
        if which == "known":
            keep = [e for e in self.examples if e.meta.get("known")]
        elif which == "unknown":
            keep = [e for e in self.examples if not e.meta.get("known")]
        else:
            keep = [e for e in self.examples if e.split == which]
        if not keep:
            raise UserError(f"{self.name} has no items in subset {which!r}; valid: {', '.join(self.subsets())}")
        return replace(self, name=f"{self.name}:{which}", examples=keep)

    def subsets(self) -> list[str]:
        names = sorted({e.split for e in self.examples if e.split})
        flags = {e.meta["known"] for e in self.examples if "known" in e.meta}
        if flags == {True, False}:  # only where the check split the set in two
            names += ["known", "unknown"]
        return names


def read_set_file(path: Path) -> DataSet:
    """Read one built-in set file ({"name", "title", "knowledge", "description", "items"})."""
    raw = json.loads(path.read_text(encoding="utf-8"))
    return DataSet(
        name=raw["name"],
        title=raw.get("title", raw["name"]),
        knowledge=raw.get("knowledge", "own"),
        description=raw.get("description", ""),
        examples=[Example.from_dict(d) for d in raw["items"]],
    )


def builtin_names() -> list[str]:
    return [*BUILTIN_FILES, *TOFU_FILES]


def read_tofu_file(name: str) -> DataSet:
    """One of TOFU's evaluation files, read as any uploaded TOFU file would be."""
    rel, title = TOFU_FILES[name]
    path = ASSETS / rel
    _, examples = records_to_examples(read_records(path.read_bytes(), path.name), None, path.name)
    note = "TOFU's evaluation set (Maini et al. 2024; MIT licence): questions with three perturbed answers each."
    return DataSet(name=name, title=title, knowledge="own", description=note, examples=examples)


@cache
def _load_builtin(name: str) -> DataSet:
    if name in TOFU_FILES:
        return read_tofu_file(name)
    if name not in BUILTIN_FILES:
        raise UserError(f"unknown built-in set {name!r}; valid: {', '.join(builtin_names())}")
    return read_set_file(ASSETS / BUILTIN_FILES[name])


def load_builtin(name: str) -> DataSet:
    """A fresh copy of a built-in set (callers may edit it without touching the cache)."""
    ds = _load_builtin(name)
    return replace(ds, examples=[replace(e, meta=dict(e.meta)) for e in ds.examples])


def load_selection(selection: str) -> DataSet:
    """`set` or `set:subset` -> DataSet."""
    name, _, sub = selection.partition(":")
    ds = load_builtin(name)
    return ds.subset(sub) if sub else ds


def selections() -> list[str]:
    """Every selection the app offers in its set pickers, whole sets first."""
    out: list[str] = []
    for name in BUILTIN_FILES:
        if (ASSETS / BUILTIN_FILES[name]).is_file():
            ds = load_builtin(name)
            out += [name] + [f"{name}:{s}" for s in ds.subsets()]
    return out + [name for name, (rel, _) in TOFU_FILES.items() if (ASSETS / rel).is_file()]


def utility_sets(limit: int | None = None) -> dict[str, list[Example]]:
    """TOFU's Real Authors and World Facts as an audit takes them ({"real_authors": [...], ...})."""
    return {key: load_builtin(name).examples[:limit] for key, name in UTILITY_SETS.items()}


def refusals() -> list[str]:
    """The built-in "I don't know"-style answers (for IdK-DPO and refusal metrics)."""
    lines = (ASSETS / REFUSALS_FILE).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()]
