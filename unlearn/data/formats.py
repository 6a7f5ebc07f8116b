"""Turn an uploaded file into a list of records (plain dicts), or say clearly what is wrong with it.

Accepted: JSON (an array of objects, or an object holding one such array), JSON Lines (also when it
carries a `.json` extension, as TOFU's own files do), CSV / TSV with a header row, and plain text
(one record per line or per blank-line-separated passage). An unknown extension is sniffed.

>>> read_records(b'{"question": "Q1", "answer": "A1"}\\n{"question": "Q2", "answer": "A2"}\\n', "forget.json")
[{'question': 'Q1', 'answer': 'A1'}, {'question': 'Q2', 'answer': 'A2'}]
>>> read_records(b"question,answer\\nWho wrote Hamlet?,Shakespeare\\n", "qa.csv")
[{'question': 'Who wrote Hamlet?', 'answer': 'Shakespeare'}]
>>> read_records(b"First line.\\nSecond line.\\n", "idk.txt")
[{'text': 'First line.'}, {'text': 'Second line.'}]
>>> try:
...     read_records(b'{"q": 1}\\n{"q": \\n', "bad.jsonl")
... except DataError as e:
...     print(e)  # doctest: +ELLIPSIS
bad.jsonl, line 2: not valid JSON (Expecting value at column 7). Fix or delete this line: ...
"""

from __future__ import annotations

import csv
import io
import json
import re
from itertools import accumulate
from pathlib import PurePath
from typing import Any

from unlearn.errors import UserError

TEXT_MODES = ("auto", "lines", "passages")
MAX_DEPTH = 32  # lists / objects inside each other: data sets need 3 or 4; json recurses once per level
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
# A JSON string, or an unterminated one up to the end: matching always succeeds at the first quote, so
# the scan never restarts inside a string (linear time, even on '"\\"\\"\\"...').
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)', re.S)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class DataError(UserError):
    """A file or record the app cannot use; the message says where (file, line or field) and what to do."""


def json_depth(text: str) -> int:
    """How deep lists and objects nest in JSON `text`, counted without parsing it (so without recursion).

    >>> json_depth('{"a": [1, {"b": "[[["}]}')
    3
    """
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def _too_deep(where: str, how: str, limit: int) -> DataError:
    return DataError(
        f"{where}: lists or objects are nested {how}, over the limit of {limit} levels: each record must "
        "be flat fields (question, answer, ...): fix or re-export the file."
    )


def check_depth(text: str, where: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON text nested deeper than `limit` before a parser recurses into it (a 100,000-deep
    file made json.loads raise RecursionError)."""
    if text.count("[") + text.count("{") <= limit:
        return  # cannot nest deeper than its number of openings: the common case costs two counts
    depth = json_depth(text)
    if depth > limit:
        raise _too_deep(where, f"{depth:,} levels deep", limit)


def parse_json(text: str, where: str) -> Any:
    """json.loads after the depth check; a RecursionError that still happens (a thread with little
    stack) becomes the same DataError. json.JSONDecodeError passes through."""
    check_depth(text, where)
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep(where, "too deep to read", MAX_DEPTH) from None


def read_records(
    data: bytes,
    filename: str,
    text_mode: str = "auto",
    max_bytes: int = 50_000_000,
    max_records: int = 200_000,
) -> list[dict]:
    """Parse `data` (the bytes of a file called `filename`) into a list of dicts."""
    if text_mode not in TEXT_MODES:
        # DataError (a ValueError), not a bare ValueError: the app turns DataError into a message,
        # so a wrong mode sent to the upload API is refused instead of crashing the handler.
        raise DataError(f"text_mode must be one of {', '.join(TEXT_MODES)}, not {text_mode!r}")
    name = PurePath(filename or "upload").name or "upload"
    if len(data) > max_bytes:
        raise DataError(
            f"{name}: the file is {len(data):,} bytes, over the limit of {max_bytes:,}: "
            "split it into smaller files, or keep only the rows you need."
        )
    text = _decode(data, name)
    if not text.strip():
        raise DataError(f"{name}: the file is empty: choose a file that holds your data.")

    ext = PurePath(name).suffix.lower()
    if ext == ".json":
        records = _read_json(text, name)
    elif ext in (".jsonl", ".ndjson"):
        records = _read_jsonl(text, name)
    elif ext in (".csv", ".tsv"):
        records = _read_delimited(text, name, "\t" if ext == ".tsv" else ",")
    elif ext == ".txt":
        records = _read_text(text, text_mode)
    else:
        records = _sniff(text, name, text_mode)

    if not records:
        raise DataError(f"{name}: no records found: the file holds no data rows.")
    if len(records) > max_records:
        raise DataError(
            f"{name}: {len(records):,} records, over the limit of {max_records:,}: "
            "split the file, or keep the first rows only."
        )
    return records


def _decode(data: bytes, name: str) -> str:
    if not data:
        raise DataError(f"{name}: the file is empty: choose a file that holds your data.")
    # UTF-16 files are full of NUL bytes; say what they are rather than calling them binary.
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or _looks_utf16(data):
        raise DataError(f"{name}: the file is UTF-16 text, not UTF-8 text: re-save it as UTF-8.")
    if b"\x00" in data[:1_000_000]:
        raise DataError(
            f"{name}: this looks like a binary file (it contains NUL bytes), not text: "
            "upload .json, .jsonl, .csv, .tsv or .txt (a spreadsheet must be exported as CSV first)."
        )
    try:
        return data.decode("utf-8-sig")  # -sig: accept (and drop) the BOM that Windows tools write
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DataError(
            f"{name}, line {line}: the file is not UTF-8 text: re-save it as UTF-8 "
            "(in most editors: Save As, encoding UTF-8)."
        ) from None


def _looks_utf16(data: bytes) -> bool:
    """UTF-16 text without a byte-order mark (some tools write it so): mostly ASCII text, so every
    other byte is NUL. Told apart from binary files, which were otherwise called binary."""
    head = data[:4096]
    if len(head) < 4:
        return False
    even, odd = head[0::2], head[1::2]
    for nuls, chars in ((odd, even), (even, odd)):  # little-endian, big-endian
        if nuls.count(0) >= 0.9 * len(nuls) and chars.count(0) == 0:
            return True
    return False


def _kind(value: Any) -> str:
    """How a JSON value is called in a message."""
    if isinstance(value, bool):
        return "a true/false value"
    return {int: "a number", float: "a number", str: "a string", list: "a list", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _objects(items: list, name: str, where: str = "") -> list[dict]:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise DataError(
                f"{name}: item at index {i}{where} is {_kind(item)}, not an object: every item must be "
                'an object with named fields, e.g. {"question": "...", "answer": "..."}.'
            )
    return items


def _read_json(text: str, name: str) -> list[dict]:
    try:
        doc = parse_json(text, name)
    except json.JSONDecodeError as e:
        # Not one JSON document. If the first line is a complete object on its own, this is
        # JSON Lines behind a .json extension (TOFU ships its files like that).
        first = text.lstrip().split("\n", 1)[0]
        try:
            if isinstance(parse_json(first, f"{name}, line 1"), dict):
                return _read_jsonl(text, name)
        except json.JSONDecodeError:
            pass
        raise DataError(
            f"{name}, line {e.lineno}: not valid JSON ({e.msg} at column {e.colno}). "
            "Fix the file, or save it as JSON Lines (.jsonl, one object per line)."
        ) from None
    if isinstance(doc, list):
        return _objects(doc, name)
    if isinstance(doc, dict):
        lists = {k: v for k, v in doc.items() if isinstance(v, list) and v and isinstance(v[0], dict)}
        if len(lists) == 1:  # a wrapper such as {"data": [...]}
            key, items = next(iter(lists.items()))
            return _objects(items, name, f' of "{key}"')
        if len(lists) > 1:
            raise DataError(
                f"{name}: the object holds several lists of records ({', '.join(lists)}): "
                "upload a file with only one of them."
            )
        if len(doc) == 1 and isinstance(next(iter(doc.values())), list):
            key, items = next(iter(doc.items()))
            return _objects(items, name, f' of "{key}"')
        return [doc]  # one record on its own (also a one-line JSON Lines file)
    raise DataError(
        f"{name}: the file holds {_kind(doc)}, not records: it must be a JSON array of objects "
        'like [{"question": "...", "answer": "..."}], or JSON Lines.'
    )


def _read_jsonl(text: str, name: str) -> list[dict]:
    records = []
    # split("\n"), not splitlines(): U+2028 and friends may sit unescaped inside JSON strings.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = parse_json(line, f"{name}, line {n}")
        except json.JSONDecodeError as e:
            hint = "each line of a JSON Lines file must be one complete JSON object"
            if n == 1 and not line.lstrip().startswith(("{", "[")):
                hint += "; if this is plain text, rename the file to .txt"
            raise DataError(
                f"{name}, line {n}: not valid JSON ({e.msg} at column {e.colno}). Fix or delete this line: {hint}."
            ) from None
        if not isinstance(value, dict):
            raise DataError(
                f"{name}, line {n}: holds {_kind(value)}, not a JSON object: each line must look like "
                '{"question": "...", "answer": "..."}.'
            )
        records.append(value)
    return records


def _read_delimited(text: str, name: str, delimiter: str) -> list[dict]:
    what = "tab" if delimiter == "\t" else "comma"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
        missing = [i + 1 for i, h in enumerate(header) if not h]
        if missing:
            raise DataError(
                f"{name}, line 1: the header row has an empty column name (column {missing[0]}): "
                "the first row must name every column."
            )
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise DataError(f"{name}, line 1: column names repeat ({', '.join(dupes)}): rename them.")
        records = []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue  # blank line
            if len(row) != len(header):
                raise DataError(
                    f"{name}, line {reader.line_num}: {len(row)} fields, but the header has "
                    f"{len(header)}: put values that contain a {what} or a line break in double quotes."
                )
            records.append(dict(zip(header, row, strict=True)))
    except csv.Error as e:
        if "field limit" in str(e):  # the csv module stops at 131,072 characters: say it as the item limit
            from unlearn.data.item_checks import (  # here: item_checks imports this module
                MAX_ITEM_CHARS,
                MAX_ITEM_TOKENS,
            )

            raise DataError(
                f"{name}, line {reader.line_num}: a field is over {csv.field_size_limit():,} characters long, over "
                f"the limit of {MAX_ITEM_TOKENS:,} tokens ({MAX_ITEM_CHARS:,} characters) per field: shorten it, "
                "or split it into several items."
            ) from None
        raise DataError(f"{name}, line {reader.line_num}: cannot read this row ({e}).") from None
    return records


def _read_text(text: str, text_mode: str) -> list[dict]:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks = [b.strip() for b in _BLANK_LINE.split(text) if b.strip()]
    if text_mode == "auto":
        # Passages only when blank lines separate blocks that span several lines; a list of
        # sentences (even double-spaced) is read one per line.
        text_mode = "passages" if len(blocks) > 1 and any("\n" in b for b in blocks) else "lines"
    if text_mode == "passages":
        return [{"text": b} for b in blocks]
    return [{"text": line.strip()} for line in text.split("\n") if line.strip()]


def _sniff(text: str, name: str, text_mode: str) -> list[dict]:
    start = text.lstrip()[:1]
    if start in ("{", "["):
        return _read_json(text, name)  # also detects JSON Lines
    first = text.lstrip().split("\n", 1)[0]
    for delimiter in ("\t", ","):
        if delimiter in first:
            try:
                records = _read_delimited(text, name, delimiter)
            except DataError:
                continue  # prose with commas in it, not a table
            # A header of short names looks like a table; a header of sentences is prose.
            if records and all(len(k) <= 64 for k in records[0]):
                return records
    return _read_text(text, text_mode)
