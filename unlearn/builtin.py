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

from .examples import Example

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BUILTIN_FILES = {
    "harry_potter": "harry_potter.json",
    "general_knowledge": "general_knowledge.json",
    "fictitious_authors": "fictitious_authors.json",
}
REFUSALS_FILE = "refusals.txt"

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
            raise ValueError(f"{self.name} has no items in subset {which!r}; valid: {', '.join(self.subsets())}")
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


@cache
def _load_builtin(name: str) -> DataSet:
    if name not in BUILTIN_FILES:
        raise ValueError(f"unknown built-in set {name!r}; valid: {', '.join(BUILTIN_FILES)}")
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
    return out


def refusals() -> list[str]:
    """The built-in "I don't know"-style answers (for IdK-DPO and refusal metrics)."""
    lines = (ASSETS / REFUSALS_FILE).read_text(encoding="utf-8").splitlines()
    return [s.strip() for s in lines if s.strip()]
