"""Checks on the text of items, wherever they come from (uploads, table edits, hub datasets, older sets).

- Length: one field of one item may hold at most MAX_ITEM_TOKENS tokens. A 2,000,000-character
  question once made a knowledge check try to allocate about 1 TB, so text longer than
  CHARS_PER_TOKEN characters per token is refused without ever being tokenized.
- Invisible and direction-changing characters (zero-width, bidi overrides, tags, other format
  characters): kept, but the user is warned, since what they read is not what the model reads.

>>> check_item_lengths([Example("Who?", "x" * 20_000)], "a.jsonl")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
unlearn.data.formats.DataError: a.jsonl, item 1 ("Who?"): the answer is 20,000 characters long, over the limit ...
>>> print(control_char_warning([Example("Who is\\u202e Ada?", "Ada.")]))  # doctest: +ELLIPSIS
⚠️ 1 item holds invisible or ... characters (...): item 1 ("Who is Ada?"): U+202E RIGHT-TO-LEFT OVERRIDE. ...
"""

from __future__ import annotations

import functools
import re
import sys
import threading
import unicodedata
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from unlearn.data.examples import Example
from unlearn.data.formats import DataError

MAX_ITEM_TOKENS = 2048  # per field of an item: QA fields hold tens of tokens; far below what breaks memory
CHARS_PER_TOKEN = 8  # real text runs ~4 characters a token; past 8 a field is refused without tokenizing
MAX_ITEM_CHARS = MAX_ITEM_TOKENS * CHARS_PER_TOKEN
_ZWJ = "\u200d"


def text_fields(ex: Example) -> Iterator[tuple[str, str]]:
    """(field name, text) for every text an item carries: all of them reach the tokenizer somewhere."""
    for name in ("question", "answer", "paraphrased_answer", "paraphrased_question", "entity"):
        value = getattr(ex, name)
        if value:
            yield "passage" if name == "answer" and not ex.question else name, value
    for name in ("perturbed_answers", "choices", "keywords"):
        for i, value in enumerate(getattr(ex, name)):
            yield f"{name.removesuffix('s')} {i + 1}", value


_COUNTERS: dict[int, tuple[weakref.ref, Callable[[str], int]]] = {}
_COUNTERS_LOCK = threading.Lock()


def _counter(tokenizer: Any) -> Callable[[str], int]:
    """A token counter for `tokenizer`. A fast tokenizer is counted on a private copy of its Rust
    backend: calling the shared one without truncation would reset the truncation a training run set
    on it, and the two threads would collide ("Already borrowed")."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a Python tokenizer keeps no such state
        return lambda text: len(tokenizer.encode(text, add_special_tokens=False))
    with _COUNTERS_LOCK:
        ref, count = _COUNTERS.get(id(tokenizer), (None, None))
        if ref is None or ref() is not tokenizer:
            from tokenizers import Tokenizer  # a dependency of transformers, only needed with a model

            own = Tokenizer.from_str(backend.to_str())
            own.no_truncation()
            own.no_padding()
            count = functools.partial(_count_with, own)
            _COUNTERS.clear()  # one model is loaded at a time: keep one counter
            _COUNTERS[id(tokenizer)] = (weakref.ref(tokenizer), count)
        return count


def _count_with(backend: Any, text: str) -> int:
    return len(backend.encode(text, add_special_tokens=False).ids)


def length_problem(text: str, tokenizer: Any | None = None, limit: int = MAX_ITEM_TOKENS) -> str | None:
    """None when `text` fits in `limit` tokens; else how long it is, against the limit. Without a
    tokenizer only the character bound (limit × CHARS_PER_TOKEN) applies.

    >>> length_problem("short"), length_problem("x" * 40_000)
    (None, '40,000 characters long, over the limit of 2,048 tokens (16,384 characters)')
    """
    if len(text) > limit * CHARS_PER_TOKEN:
        chars = limit * CHARS_PER_TOKEN
        return f"{len(text):,} characters long, over the limit of {limit:,} tokens ({chars:,} characters)"
    # A token holds at least one byte (byte-level BPE, SentencePiece byte fallback): short text fits.
    if tokenizer is None or len(text.encode("utf-8")) < limit:
        return None
    n = _counter(tokenizer)(text)
    return f"{n:,} tokens long, over the limit of {limit:,} tokens" if n > limit else None


def _clean(text: str) -> str:
    """Text safe to show in a message: no control or format characters (they would reorder the message)."""
    return "".join(c for c in text if unicodedata.category(c)[0] != "C")


def first_words(ex: Example) -> str:
    """The first few words of an item (its question, else its passage), safe to show in a message."""
    words = _clean((ex.question or ex.answer)[:200]).split()
    head = " ".join(words[:6])
    return head[:60].rstrip() + " …" if len(words) > 6 or len(head) > 60 else head


def item_label(ex: Example, n: int) -> str:
    """`item 3 ("Who wrote Hamlet?")`: the item's number and its first few words."""
    return f'item {n} ("{first_words(ex)}")'


def _too_long(ex: Example, tokenizer: Any | None, limit: int) -> str | None:
    """What is wrong with the first field of `ex` over `limit` tokens, or None."""
    for field, text in text_fields(ex):
        problem = length_problem(text, tokenizer, limit)
        if problem:
            return (
                f"the {field} is {problem}: shorten it, or split it into several items "
                "(the model reads an item whole, and text this long would not fit in memory)."
            )
    return None


def check_item(ex: Example, where: str, tokenizer: Any | None = None, limit: int = MAX_ITEM_TOKENS) -> None:
    """Raise DataError, naming `where`, if a field of `ex` is longer than `limit` tokens."""
    problem = _too_long(ex, tokenizer, limit)
    if problem:
        raise DataError(f"{where}: {problem}")


def check_item_lengths(
    examples: Sequence[Example], source: str = "this set", tokenizer: Any | None = None, limit: int = MAX_ITEM_TOKENS
) -> None:
    """Raise DataError for the first item with a field over `limit` tokens: the check to call before
    scoring, teaching, training or auditing items that may come from an older, unchecked state."""
    for n, ex in enumerate(examples, start=1):
        problem = _too_long(ex, tokenizer, limit)
        if problem:  # the label only for the item refused: 100,000 labels cost a second
            raise DataError(f"{source}, {item_label(ex, n)}: {problem}")


def loaded_tokenizer() -> Any | None:
    """The loaded model's tokenizer, or None (then lengths are bounded in characters)."""
    from unlearn.serve.store import STORE  # here, not at the top: this module stays importable without torch

    lm = STORE.current()
    return lm.tokenizer if lm is not None else None


# ---------------------------------------------------------------- invisible and bidi characters
@functools.cache
def _hidden_pattern() -> re.Pattern[str]:
    """Every format character (Unicode category Cf: zero-width, bidi controls, tags, BOM, soft hyphen)
    and the C0/C1 controls but tab and line breaks. Built once from the running Unicode tables."""
    cf = {c for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"}
    ranges = []  # as ranges: a class of 163 single characters is ten times slower to scan
    for start in sorted(c for c in cf if c - 1 not in cf):
        end = start
        while end + 1 in cf:
            end += 1
        ranges.append(f"{re.escape(chr(start))}-{re.escape(chr(end))}")
    return re.compile(f"[{''.join(ranges)}\\x00-\\x08\\x0b\\x0c\\x0e-\\x1f\\x7f-\\x9f]")


def _emoji_joiner(text: str, i: int) -> bool:
    """A zero-width joiner inside an emoji sequence (👩‍🚀): meant, so not warned about."""
    before, after = text[i - 1 : i], text[i + 1 : i + 2]
    if not (before and after):
        return False
    return unicodedata.category(after) == "So" and unicodedata.category(before) in ("So", "Sk", "Mn")


def hidden_chars(text: str) -> list[str]:
    """The distinct invisible or direction-changing characters in `text`, in order of first use."""
    found: dict[str, None] = {}
    for m in _hidden_pattern().finditer(text):
        if m.group() != _ZWJ or not _emoji_joiner(text, m.start()):
            found[m.group()] = None
    return list(found)


def char_name(c: str) -> str:
    """`U+202E RIGHT-TO-LEFT OVERRIDE` (controls have no name: `U+001B`)."""
    return f"U+{ord(c):04X}" + (f" {unicodedata.name(c)}" if unicodedata.name(c, "") else "")


def control_char_warning(examples: Sequence[Example], shown: int = 3) -> str:
    """A warning naming the first `shown` items that hold invisible or direction-changing characters
    and which ones; "" when none does. Starts with ⚠️, so it can follow a ✅ line."""
    texts = [text for ex in examples for _, text in text_fields(ex)]
    if not _hidden_pattern().search("\n".join(texts)):
        return ""  # one scan of everything: the common case for 100,000 items
    hits = []
    for n, ex in enumerate(examples, start=1):
        chars = {c: None for _, text in text_fields(ex) for c in hidden_chars(text)}
        if chars:
            hits.append((n, ex, list(chars)))
    if not hits:
        return ""
    named = "; ".join(
        f"{item_label(ex, n)}: {', '.join(map(char_name, chars[:4]))}" + (" …" if len(chars) > 4 else "")
        for n, ex, chars in hits[:shown]
    )
    more = f"; and {len(hits) - shown:,} more" if len(hits) > shown else ""
    items = "1 item holds" if len(hits) == 1 else f"{len(hits):,} items hold"
    return (
        f"⚠️ {items} invisible or direction-changing characters (they can hide or reorder text, so what "
        f"you read is not what the model reads): {named}{more}. Remove them unless you put them there on purpose."
    )
