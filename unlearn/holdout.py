"""Which holdout set an audit compares the forget set with, and whether the two come from one source.

A membership AUC of forget against holdout means "seen in training or not" only when the two sets are
alike in everything else: the same benchmark, the same kind of question (TOFU's forget and holdout
authors, MUSE's forget and holdout articles, a set's own holdout split). Against a set on another
topic the attacks tell the topics apart, and the AUCs measure that, not membership.

Sources are read from set names: a set's family is its name before the first ':' (built-in
`fictitious_authors:forget` and `fictitious_authors:holdout`, hub `TOFU:forget01:train` and
`TOFU:holdout01:train`), without the " (edited)" and " (2)" marks the app adds to copies.

>>> family("fictitious_authors:forget"), family("TOFU:holdout01:train (2)")
('fictitious_authors', 'TOFU')
>>> same_source("fictitious_authors:forget", "fictitious_authors:holdout")
True
>>> own_holdout("fictitious_authors:forget", ["fictitious_authors:holdout", "harry_potter"])
'fictitious_authors:holdout'
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_COPY_MARK = re.compile(r"( \(edited\)| \(\d+\))+$")


def family(name: str) -> str:
    return _COPY_MARK.sub("", name.split(":")[0].strip())


def same_source(forget: str, holdout: str) -> bool:
    return bool(forget) and bool(holdout) and family(forget) == family(holdout)


def own_holdout(forget: str, available: Iterable[str]) -> str | None:
    """The forget set's own holdout split (`<family>:holdout`) where one is offered, else None."""
    want = f"{family(forget)}:holdout"
    return want if want in set(available) and want != forget else None


def source_note(forget: str, holdout: str) -> str | None:
    """The warning an audit carries when forget and holdout come from different sources (None if not)."""
    if same_source(forget, holdout):
        return None
    return (
        f"Forget ({forget}) and holdout ({holdout}) come from different sources: the membership AUCs then "
        "measure how far the two topics differ, not whether the forget items were trained on. Use a holdout "
        "split of the forget set's own source (e.g. fictitious_authors:holdout for fictitious_authors:forget)."
    )
