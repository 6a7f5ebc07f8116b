"""What counts as "the answer" in a free reply, for items whose file gave no keywords.

A whole gold sentence ("Mars is known as the Red Planet.") almost never appears word for word in
a model's reply, so "does the model know it?" needs the few words that carry the answer: the
answer's names, numbers and capitalised words that the question does not already contain. The
derived keywords are shown (and editable) in the set table, so a person can see and fix them.

>>> derive_keywords("Which planet is known as the Red Planet?", "Mars is known as the Red Planet.")
['Mars']
>>> derive_keywords("Where does the asteroid belt lie?", "The asteroid belt lies between Mars and Jupiter.")
['Mars', 'Jupiter']
>>> derive_keywords("How many planets are there?", "There are eight planets in our solar system.")
['eight']
>>> derive_keywords("What do bees make?", "Bees make honey.")  # no names or numbers: content words
['honey']
>>> mark_keyword("It is called Mars, I think.", ["Jupiter", "mars"])
('Mars', 'It is called **Mars**, I think.')
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from unlearn.data.examples import Example

MAX_KEYWORDS = 5  # a long answer's first few names are enough; more makes "any keyword" too lenient
_WORD = re.compile(r"[^\W_][\w'’-]*", re.UNICODE)
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred thousand "
    "million billion first second third fourth fifth sixth seventh eighth ninth tenth".split()
)
# Function words and words that answer any question ("is", "called"): never the answer by themselves.
_STOP = frozenset(
    "a an the and or but nor of to in on at by for with from into onto about as than then that this these "
    "those there here it its it's is are was were be been being am do does did done has have had having "
    "i you he she we they me him her us them my your his our their who whom whose which what when where "
    "why how not no yes so if also very more most some any all each every both either neither such only "
    "own same other can could may might must shall should will would known called named name named "
    "one's s like just well often usually generally".split()
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#])")  # what would turn a reply into emphasis, links or HTML


@lru_cache(maxsize=1 << 16)  # words repeat across a set: a 100,000-item upload reuses most of them
def _plain(word: str) -> str:
    """Lower case, accents and a trailing possessive removed: how words are compared."""
    word = unicodedata.normalize("NFKD", word).encode("ascii", "ignore").decode().lower()
    return re.sub(r"['’]s$", "", word).strip("'’-")


def derive_keywords(question: str, answer: str) -> list[str]:
    """The answer's names, numbers and capitalised words that are not in the question; when it has
    none, its content words (four letters or more) that are not in the question."""
    asked = {_plain(w) for w in _WORD.findall(question)}
    strong: list[str] = []
    content: list[str] = []
    for raw in _WORD.findall(answer):
        word = re.sub(r"['’]s$", "", raw).strip("'’-")
        plain = _plain(word)
        if not plain or plain in asked or plain in _STOP:
            continue
        if word[0].isdigit() or plain in _NUMBER_WORDS or word[0].isupper():
            strong.append(word)
        elif len(plain) >= 4:
            content.append(word)
    picked = strong or content
    seen: set[str] = set()
    out = []
    for w in picked:
        if _plain(w) not in seen:
            seen.add(_plain(w))
            out.append(w)
    return out[:MAX_KEYWORDS]


def keywords_for(e: Example) -> list[str]:
    """The keywords a reply is checked against: the item's own, else derived, else the whole answer."""
    return e.keywords or derive_keywords(e.question, e.answer) or [e.answer]


def with_keywords(examples: Sequence[Example]) -> tuple[list[Example], int]:
    """Question items without keywords get derived ones (so the table shows them and a person can
    edit them); returns the items and how many were filled."""
    out, filled = [], 0
    for e in examples:
        if e.is_qa and not e.keywords:
            derived = derive_keywords(e.question, e.answer)
            if derived:
                e = replace(e, keywords=derived)
                filled += 1
        out.append(e)
    return out, filled


def _pattern(keyword: str) -> re.Pattern[str] | None:
    parts = [re.escape(p) for p in re.split(r"[^0-9A-Za-z]+", keyword) if p]
    if not parts:
        return None
    return re.compile(r"(?<![0-9A-Za-z])" + r"[^0-9A-Za-z]+".join(parts) + r"(?![0-9A-Za-z])", re.IGNORECASE)


def escape_markdown(text: str) -> str:
    """`text` shown literally in a Markdown cell: no emphasis, links or HTML from a model's reply."""
    return _MD_SPECIAL.sub(r"\\\1", text)


def mark_keyword(text: str, keywords: Sequence[str]) -> tuple[str | None, str]:
    """The first keyword found in `text` (as whole words, case ignored) and `text` as Markdown with
    that occurrence in bold; (None, escaped text) when no keyword is there."""
    for k in keywords:
        pat = _pattern(k)
        m = pat.search(text) if pat else None
        if m:
            before, hit, after = text[: m.start()], text[m.start() : m.end()], text[m.end() :]
            return hit, f"{escape_markdown(before)}**{escape_markdown(hit)}**{escape_markdown(after)}"
    return None, escape_markdown(text)
