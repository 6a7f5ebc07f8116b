"""Which holdout set an audit compares the forget set with, and whether the two come from one source.

A membership AUC of forget against holdout means "seen in training or not" only when the two sets are
alike in everything else: the same benchmark, the same kind of question (TOFU's forget and holdout
authors, MUSE's forget and holdout articles, a set's own holdout split). Against a set on another
topic the attacks tell the topics apart, and the AUCs measure that, not membership.

Sources are read from set names: a set's family is its name before the first ':' (built-in
`fictitious_authors:forget` and `fictitious_authors:holdout`, hub `TOFU:forget01:train` and
`TOFU:holdout01:train`), without the " (edited)" and " (2)" marks the app adds to copies, a file's
folder and extension, and the split words benchmarks put in file names (forget, retain, holdout,
train, test, eval, perturbed and their numbers: `tofu_forget01_perturbed.json` and
`tofu_holdout01_perturbed.json` are one family). Where a name is nothing but such words (TOFU's own
`forget01_perturbed`), the source cannot be told from it, and the audit says so instead.

>>> family("fictitious_authors:forget"), family("TOFU:holdout01:train (2)"), family("data/tofu_forget05.jsonl")
('fictitious_authors', 'TOFU', 'tofu')
>>> same_source("fictitious_authors:forget", "fictitious_authors:holdout")
True
>>> same_source("tofu_forget01_perturbed.json", "tofu_holdout01_perturbed.json")
True
>>> same_source("solar_system.jsonl", "general_facts.jsonl"), same_source("forget01_perturbed", "holdout01_perturbed")
(False, False)
>>> own_holdout("fictitious_authors:forget", ["fictitious_authors:holdout", "harry_potter"])
'fictitious_authors:holdout'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_COPY_MARK = re.compile(r"( \(edited\)| \(\d+\))+$")
_EXTENSION = re.compile(r"\.(jsonl?|csv|tsv|txt|parquet)$", re.IGNORECASE)
_SPLIT_WORDS = re.compile(r"(forget|retain|holdout|train|test|eval|perturbed|split|set)\d*", re.IGNORECASE)


def family(name: str) -> str:
    """The source a set name points to ("" where the name holds nothing but split words)."""
    head = _COPY_MARK.sub("", name.split(":")[0].strip())
    head = _EXTENSION.sub("", head.replace("\\", "/").rsplit("/", 1)[-1])
    if ":" in name:  # a built-in or hub name: its family is spelled out before the ':'
        return head
    return re.sub(r"[\W_]+", "_", _SPLIT_WORDS.sub("", head)).strip("_")


def same_source(forget: str, holdout: str) -> bool:
    a, b = family(forget or ""), family(holdout or "")
    return bool(a) and a == b


def own_holdout(forget: str, available: Iterable[str]) -> str | None:
    """The forget set's own holdout split (`<family>:holdout`) where one is offered, else None."""
    want = f"{family(forget)}:holdout"
    return want if want in set(available) and want != forget else None


def source_note(forget: str, holdout: str) -> str | None:
    """The warning an audit carries when forget and holdout come from different sources (None if not)."""
    if same_source(forget, holdout):
        return None
    if not family(forget or "") or not family(holdout or ""):
        return (
            f"Whether forget ({forget}) and holdout ({holdout}) come from one source cannot be told from their "
            "names: make sure the holdout items are of the same kind as the forget items and were never trained "
            "on, or the membership AUCs measure the difference between the sets, not membership."
        )
    return (
        f"Forget ({forget}) and holdout ({holdout}) come from different sources: the membership AUCs then "
        "measure how far the two topics differ, not whether the forget items were trained on. Use a holdout "
        "split of the forget set's own source (e.g. fictitious_authors:holdout for fictitious_authors:forget), "
        "or split one from the forget set in Model & data."
    )
