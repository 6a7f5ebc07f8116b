"""Hostile inputs fed to the app's handlers in-process, on the tiny model.

Every case checks three things:
- a clear message: a string that starts with "❌" or "⚠️" and holds the words that say what is wrong
  and what to do (no raw "Errno" text);
- nothing earlier is lost: the user's sets come back unchanged, the loaded model is the same object with
  the same weights, and a saved run in the runs folder (and a copy of it elsewhere) stays byte for byte;
- the app keeps working: a normal call of the same handler succeeds afterwards (where that call takes
  seconds, as an audit or a teaching does, one normal call follows all of that handler's hostile inputs
  in a row: the `*_still_*` tests).

`CORPUS` lists every hostile input tried; the last test checks it against the collected cases and prints
the total and the time taken by the 100,000-line files.
"""

from __future__ import annotations

import copy
import gc
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import pytest
import torch
from safetensors.torch import save_file

from unlearn.data.examples import Example
from unlearn.data.formats import DataError
from unlearn.data.item_checks import check_item_lengths
from unlearn.model.models import LoadedModel, load_model
from unlearn.serve.store import STORE

from . import tabs
from .conftest import make_tiny_model, weights_digest

QUICK, LORA = list(tabs.PRESET_LABELS)[0], list(tabs.MODE_LABELS)[0]
LOCAL, HUB, GGUF = "Local folder (save_pretrained)", "Hugging Face hub id", ".gguf file"
NAN, INF = float("nan"), float("inf")

CORPUS: list[str] = []  # "test_function[case id]" of every hostile input below
HUGE: dict[str, float] = {}  # seconds taken to inspect and add each 100,000-line file


def hostile(test: str, table: list[Any]) -> list[Any]:
    """Register a parametrize table's cases in CORPUS; return the table."""
    for case in table:
        name = f"{test}[{case.id}]"
        assert name not in CORPUS, f"duplicate case {name}"
        CORPUS.append(name)
    return table


def _qa(name: str, n: int) -> dict[str, Any]:
    examples = [{"question": f"Who is {name} {i}?", "answer": f"{name} {i} is a test person."} for i in range(n)]
    return {"title": name, "knowledge": "uploaded", "description": "", "examples": examples}


# The session's own sets before each hostile call: small, so the runs and comparisons here are fast.
EARLIER: dict[str, dict[str, Any]] = {
    "mine": _qa("Ada", 4),
    "keep": _qa("Bob", 4),
    "notes": {
        "title": "notes",
        "knowledge": "uploaded",
        "description": "",
        "examples": [{"question": "", "answer": "A plain passage."}, {"question": "", "answer": "Another one."}],
    },
}


def _progress(*a: Any, **k: Any) -> None:
    return None


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def assert_clear(msg: Any, *words: str) -> None:
    """A refusal the user can act on: starts with ❌ or ⚠️, says the given words, no raw OS error."""
    assert isinstance(msg, str), f"not a message: {msg!r}"
    assert msg.startswith(("❌", "⚠️")), f"not a clear refusal: {msg[:300]!r}"
    for w in words:
        assert w in msg, f"{w!r} not in {msg[:400]!r}"
    assert "Errno" not in msg and "Traceback" not in msg, msg


@dataclass
class World:
    """What must survive a hostile call: the model, its weights, a saved run (and a copy elsewhere)."""

    lm: LoadedModel
    run_dir: Path
    outside: Path
    run_files: dict[str, bytes]
    listing: list[str]
    weights: str = field(repr=False)

    def assert_nothing_lost(self, same_object: bool = True) -> None:
        now = STORE.current()
        assert now is not None and now.source.ref == self.lm.source.ref, "another model was loaded"
        if same_object:
            assert now is self.lm, "the loaded model was replaced"
        assert STORE.active_run() is None, "a run was put on the model"
        assert weights_digest(now) == self.weights, "the model's weights changed"
        assert sorted(p.name for p in self.run_dir.parent.iterdir()) == self.listing, "the runs folder changed"
        assert _files(self.run_dir) == self.run_files, "the saved run changed"
        assert _files(self.outside) == self.run_files, "the copy outside the runs folder changed"


def _run_args(
    method: str = "grad_diff",
    rows: Any = None,
    hp: tuple[str, Any] | None = None,
    options: list[Any] | None = None,
    stop: list[Any] | None = None,
    forget: Any = "mine",
    retain: Any = "keep",
    **loop: Any,
) -> list[Any]:
    """run_ui's arguments up to the request: a 1-step grad_diff run on the small sets, with overrides."""
    _, defaults, _ = tabs.on_method("grad_diff", QUICK)
    if hp is not None:  # one value of the hyperparameter table replaced
        defaults = [[r[0], hp[1] if r[0] == hp[0] else r[1], *r[2:]] for r in defaults]
    settings = {"steps": 1, "lr": 5e-3, "batch": 4, "accum": 1, "max_length": 64, "warmup": 0, "seed": 0, "lora_r": 4}
    settings |= loop
    options = options or [False, 0, 1.0, "random", False]  # low memory, GU k, coreset share and mode, MELU
    table = defaults if rows is None else rows
    stop = stop if stop is not None else [0, 0, 0]  # save every k, stop-forget share, keep-retain share (0: off)
    return [method, QUICK, LORA, table, *settings.values(), *options, *stop, forget, retain, copy.deepcopy(EARLIER)]


def _run(session: str = "hostile", **kw: Any) -> list[tuple]:
    return list(tabs.run_ui(*_run_args(**kw), SimpleNamespace(session_hash=session)))


def _normal_run() -> None:
    last = _run(session="normal")[-1][0]
    assert last.startswith("✅ finished"), last
    assert STORE.active_run() is not None
    STORE.clear_run()


@pytest.fixture(scope="module")
def saved_run(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real run of the tiny model, made once; each test copies it into its own runs folder."""
    root = tmp_path_factory.mktemp("runs-template")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNLEARN_RUNS_DIR", str(root))
        STORE.replace(load_model(str(tiny_dir), device="cpu"))
        last = _run(session="template")[-1][0]
        STORE.clear_run()
    assert last.startswith("✅"), last
    (run,) = [d for d in root.iterdir() if (d / "run.json").is_file()]
    return run


@pytest.fixture
def no_gc_on_swap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each model swap runs gc.collect(), ~0.35 s in this process's heap, and the ~250 cases here swap the
    tiny model often (app_tiny, reloads after a failed teaching). Refcounting frees the tiny models anyway;
    skipping the collection keeps this file fast. Requested before app_tiny, so it applies to its swap too."""
    monkeypatch.setattr("unlearn.serve.store._free_memory", lambda: None)


@pytest.fixture
def world(no_gc_on_swap: None, app_tiny: LoadedModel, saved_run: Path, tmp_path: Path) -> World:
    runs = tmp_path / "runs"  # app_tiny's runs folder
    run_dir, outside = runs / saved_run.name, tmp_path / "elsewhere" / saved_run.name
    shutil.copytree(saved_run, run_dir)
    shutil.copytree(saved_run, outside)
    listing = sorted(p.name for p in runs.iterdir())
    return World(app_tiny, run_dir, outside, _files(run_dir), listing, weights_digest(app_tiny))


# ---------------------------------------------------------------- uploads
_RNG = random.Random(0)
RANDOM_BYTES = _RNG.randbytes(2000)
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06\x00\x00\x00\x1f\xf3\xffa"
ZIP = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + _RNG.randbytes(200)
QA_JSONL = '{"question": "Qui est Zoë?", "answer": "Zoë est là."}\n'
QA_CSV = "question,answer\nQui est Zoë?,Zoë est là.\n"
DEEP = b"[" * 100_000 + b"]" * 100_000  # lists nested 100,000 levels deep
DEEP_CELL = b"[" * 100 + b"]" * 100  # in a CSV cell (the csv module reads at most 131,072 characters a field)
HUGE_TEXT = "x" * 2_000_000  # one field of 2,000,000 characters


def _item(question: str, answer: Any = "a", choices: list[str] | None = None) -> bytes:
    """One JSON Lines record (a multiple-choice one when `choices` is given)."""
    record = {"question": question, "answer": answer} | ({"choices": choices} if choices else {})
    return json.dumps(record).encode() + b"\n"


def up(case: str, filename: str, data: bytes, *words: str, mode: str = "auto") -> Any:
    return pytest.param(filename, data, mode, words, id=case)


UPLOADS = hostile(
    "test_hostile_upload",
    [
        # malformed JSON / JSON Lines / CSV
        up("json-truncated", "a.json", b'[{"question": "a", "answer": ', "line 1", "not valid JSON"),
        up("json-trailing-comma", "a.json", b'[{"question": "a", "answer": "b"},]', "not valid JSON"),
        up("json-single-quotes", "a.json", b"[{'question': 'a', 'answer': 'b'}]", "not valid JSON"),
        up("json-unclosed-string", "a.json", b'[{"question": "a, "answer": "b"}]', "not valid JSON"),
        up("jsonl-broken-line-2", "a.jsonl", b'{"question": "a", "answer": "b"}\n{"question": oops}\n', "line 2"),
        up("jsonl-two-objects-one-line", "a.jsonl", b'{"question": "a"} {"answer": "b"}\n', "line 1", "one complete"),
        up("jsonl-plain-prose", "a.jsonl", b"Just some words.\nMore words.\n", "rename the file to .txt"),
        up("jsonl-unclosed-brace", "a.jsonl", b'{"question": "a", "answer": "b"\n', "line 1", "not valid JSON"),
        up("csv-unbalanced-quote", "a.csv", b'question,answer\n"unterminated,b\n', "line 2", "double quotes"),
        up("csv-extra-field", "a.csv", b"question,answer\na,b,c\n", "line 2", "3 fields"),
        up("csv-empty-header-name", "a.csv", b"question,\na,b\n", "empty column name"),
        up("csv-duplicate-header", "a.csv", b"question,question\na,b\n", "repeat", "rename"),
        up("tsv-missing-field", "a.tsv", b"question\tanswer\nonly one\n", "line 2", "tab"),
        # valid JSON, wrong fields
        up("json-no-qa-columns", "a.json", b'[{"foo": "a", "bar": "b"}]', "foo, bar", "Map the columns"),
        up("jsonl-no-qa-columns", "a.jsonl", b'{"foo": "a"}\n{"foo": "b"}\n', "foo", "Map the columns"),
        up("csv-no-qa-columns", "a.csv", b"foo,bar\na,b\n", "foo, bar", "Map the columns"),
        up("json-nested-object-question", "a.json", b'[{"question": {"x": 1}, "answer": "b"}]', "'question'", "text"),
        up("json-list-answer", "a.json", b'[{"question": "q", "answer": ["a", "b"]}]', "'answer'", "expected text"),
        up("json-bool-answer", "a.json", b'[{"question": "q", "answer": true}]', "'answer'", "expected text"),
        up("json-null-question", "a.json", b'[{"question": null, "answer": "b"}]', "'question' is missing"),
        up("json-empty-strings", "a.json", b'[{"question": "", "answer": ""}]', "is empty", "fill it in"),
        up("json-list-of-lists", "a.json", b'[["a", "b"], ["c", "d"]]', "index 0", "not an object"),
        up("json-list-of-strings", "a.json", b'["a", "b"]', "index 0", "not an object"),
        up("json-list-of-numbers", "a.json", b"[1, 2, 3]", "a number", "not an object"),
        up("jsonl-numbers", "a.jsonl", b"1\n2\n", "line 1", "not a JSON object"),
        up("jsonl-arrays", "a.jsonl", b'["q", "a"]\n', "line 1", "not a JSON object"),
        up("json-top-level-string", "a.json", b'"hello"', "a string", "not records"),
        up("json-top-level-number", "a.json", b"42", "a number", "not records"),
        up("json-top-level-null", "a.json", b"null", "null", "not records"),
        up("json-wrapper-without-list", "a.json", b'{"data": {"question": "a", "answer": "b"}}', "Map the columns"),
        up("json-two-lists", "a.json", b'{"a": [{"question": "q"}], "b": [{"question": "r"}]}', "several lists"),
        up("json-choice-out-of-range", "a.json", b'[{"question": "q", "choices": ["x"], "answer": 5}]', "out of range"),
        # empty files
        up("empty-json-0-bytes", "a.json", b"", "the file is empty"),
        up("empty-jsonl-0-bytes", "a.jsonl", b"", "the file is empty"),
        up("empty-csv-0-bytes", "a.csv", b"", "the file is empty"),
        up("empty-txt-0-bytes", "a.txt", b"", "the file is empty"),
        up("whitespace-only-jsonl", "a.jsonl", b"  \n\n \t \r\n", "the file is empty"),
        up("whitespace-only-csv", "a.csv", b"\n\n\n", "the file is empty"),
        up("json-empty-array", "a.json", b"[]", "no records found"),
        up("json-empty-object", "a.json", b"{}", "columns found: (none)", "Map the columns"),
        up("json-object-with-empty-list", "a.json", b'{"data": []}', "no records found"),
        up("csv-header-only", "a.csv", b"question,answer\n", "no records found"),
        up("csv-header-and-blank-rows", "a.csv", b"question,answer\n,\n\n", "no records found"),
        # binary files
        up("random-bytes-json", "a.json", RANDOM_BYTES, "binary file"),
        up("random-bytes-no-extension", "upload", RANDOM_BYTES, "binary file"),
        up("png-header-csv", "a.csv", PNG, "binary file"),
        up("zip-header-jsonl", "a.jsonl", ZIP, "binary file", "exported as CSV"),
        up("gzip-header-json", "a.json", b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + _RNG.randbytes(64), "binary"),
        up("nul-bytes-in-text", "a.txt", b"question\x00answer\n", "binary file"),
        up("only-nul-bytes", "a.json", b"\x00" * 100, "binary file"),
        up("pdf-header", "a.csv", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not UTF-8", "re-save it as UTF-8"),
        # non-UTF-8 text
        up("latin-1-jsonl", "a.jsonl", QA_JSONL.encode("latin-1"), "line 1", "re-save it as UTF-8"),
        up("latin-1-csv", "a.csv", QA_CSV.encode("latin-1"), "line 2", "re-save it as UTF-8"),
        up("cp1252-smart-quotes-csv", "a.csv", "question,answer\n“Who?”,Me\n".encode("cp1252"), "not UTF-8"),
        up("utf-16-bom-jsonl", "a.jsonl", QA_JSONL.encode("utf-16"), "UTF-16", "re-save it as UTF-8"),
        up("utf-16-bom-csv", "a.csv", QA_CSV.encode("utf-16"), "UTF-16", "re-save it as UTF-8"),
        # fixed in unlearn/data/formats.py: a BOM-less UTF-16 file was called "binary"
        up("utf-16-le-no-bom-csv", "a.csv", QA_CSV.encode("utf-16-le"), "UTF-16", "re-save it as UTF-8"),
        up("utf-16-be-no-bom-jsonl", "a.jsonl", QA_JSONL.encode("utf-16-be"), "UTF-16", "re-save it as UTF-8"),
        # a text mode the upload API does not know (fixed in unlearn/data/formats.py: it crashed the handler)
        up("unknown-text-mode", "a.txt", b"one line\n", "text_mode must be one of", mode="sideways"),
        # nested 100,000 deep: json.loads raised RecursionError (red "Error" badges); refused before parsing
        up("json-100k-deep", "a.json", DEEP, "a.json", "100,000 levels deep", "limit of 32"),
        up("jsonl-100k-deep-line", "a.jsonl", QA_JSONL.encode() + DEEP + b"\n", "line 2", "100,000 levels deep"),
        up("unknown-ext-100k-deep", "a.dat", DEEP, "100,000 levels deep"),
        up("csv-100-deep-cell", "a.csv", b"question,answer,perturbed_answer\nq,a," + DEEP_CELL + b"\n", "100 levels"),
        # one huge item: a 2,000,000-character question once made a knowledge check allocate ~1 TB
        up("jsonl-2m-char-question", "a.jsonl", _item(HUGE_TEXT), "item 1", "2,000,000 characters", "2,048 tokens"),
        up("csv-2m-char-question", "a.csv", f"question,answer\n{HUGE_TEXT},a\n".encode(), "line 2", "2,048 tokens"),
        up("json-2m-char-answer", "a.json", b"[" + _item("Who?", HUGE_TEXT) + b"]", '("Who?")', "the answer"),
        up("txt-2m-char-passage", "a.txt", HUGE_TEXT.encode(), "item 1", "the passage is 2,000,000 characters"),
        up("jsonl-over-2048-tokens", "a.jsonl", _item("Who is Zoë? " * 1000), "tokens long", "2,048 tokens"),
        up("jsonl-2m-char-choice", "a.jsonl", _item("Q?", 0, ["ok", HUGE_TEXT]), "choice 2", "2,000,000 characters"),
    ],
)


def _upload_still_works(tmp_path: Path, sets: dict[str, Any]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text('{"question": "Who is Cy?", "answer": "Cy is fine."}\n')
    after, f, _, _, msg = tabs.add_upload(str(good), "auto", "", "question", "answer", tabs.NONE, sets, "forget")
    assert msg.startswith("✅") and f["value"] == "good", msg
    assert {k: after[k] for k in EARLIER} == EARLIER and after["good"]["examples"][0]["answer"] == "Cy is fine."


@pytest.mark.parametrize(("filename", "data", "mode", "words"), UPLOADS)
def test_hostile_upload(world: World, tmp_path: Path, filename: str, data: bytes, mode: str, words: tuple) -> None:
    path = tmp_path / filename
    path.write_bytes(data)
    earlier = copy.deepcopy(EARLIER)
    # as the page does: inspect the file, then add it with the columns inspect proposed
    q, a, t, note = tabs.inspect_upload(str(path), mode)
    assert isinstance(note, str) and note.startswith(("❌", "⚠️", "Recognised")), note
    sets, *_, msg = tabs.add_upload(str(path), mode, "", q["value"], a["value"], t["value"], earlier, "forget")
    assert sets == EARLIER and earlier == EARLIER, "the session's sets changed"
    world.assert_nothing_lost()
    assert_clear(msg, *words)
    if note.startswith("❌"):
        assert_clear(note, *words)  # inspect says the same thing as soon as the file is chosen
    _upload_still_works(tmp_path, sets)


ACCEPTED_UPLOADS = hostile(
    "test_hostile_upload_accepted",
    [
        # decoded or read sensibly: the set is added with the right text
        pytest.param("a.json", b'[{"question": 1, "answer": 2}]', ("1", "2"), id="numbers-instead-of-strings"),
        pytest.param("a.jsonl", b'\xef\xbb\xbf{"question": "q", "answer": "a"}\n', ("q", "a"), id="utf-8-bom"),
        pytest.param("a.csv", b"question,answer\r\nq,a\r\n", ("q", "a"), id="csv-crlf"),
        pytest.param("a.json", b'{"data": [{"question": "q", "answer": "a"}]}', ("q", "a"), id="json-wrapper"),
        pytest.param("a.dat", b'{"question": "q", "answer": "a"}\n', ("q", "a"), id="jsonl-unknown-extension"),
        pytest.param("a.json", b'[{"Question": " q ", "Answer": " a "}]', ("q", "a"), id="capitalised-padded-fields"),
        pytest.param("a.json", b'[{"question": "q", "answer": "a", "x": {"deep": [1]}}]', ("q", "a"), id="extra-nest"),
    ],
)


@pytest.mark.parametrize(("filename", "data", "first"), ACCEPTED_UPLOADS)
def test_hostile_upload_accepted(world: World, tmp_path: Path, filename: str, data: bytes, first: tuple) -> None:
    path = tmp_path / filename
    path.write_bytes(data)
    q, a, t, note = tabs.inspect_upload(str(path), "auto")
    assert note.startswith("Recognised"), note
    sets, f, *_, msg = tabs.add_upload(str(path), "auto", "", q["value"], a["value"], t["value"], EARLIER, "forget")
    assert msg.startswith("✅") and f["value"] == "a", msg
    got = sets["a"]["examples"][0]
    assert (got["question"], got["answer"]) == first and {k: sets[k] for k in EARLIER} == EARLIER
    world.assert_nothing_lost()


# ---------------------------------------------------------------- 100,000 lines
N_HUGE = 100_000
PREVIEW_MAX = 1000  # rows (or picker choices) a page may reasonably receive


def _huge_file(path: Path) -> None:
    items = [(f"What is item {i}?", f"Item {i} is number {i}.") for i in range(N_HUGE)]
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in items))
    else:
        path.write_text("question,answer\n" + "".join(f"{q},{a}\n" for q, a in items))


@pytest.mark.parametrize(
    "filename", hostile("test_hostile_upload_100k_lines", [pytest.param(f"huge.{x}", id=x) for x in ("jsonl", "csv")])
)
def test_hostile_upload_100k_lines(world: World, tmp_path: Path, filename: str) -> None:
    """Accepted, quickly: the time is recorded and printed by the last test."""
    path = tmp_path / filename
    _huge_file(path)
    t0 = time.perf_counter()
    q, a, t, note = tabs.inspect_upload(str(path), "auto")
    sets, f, *_, msg = tabs.add_upload(str(path), "auto", "", q["value"], a["value"], t["value"], EARLIER, "forget")
    seconds = HUGE[filename] = time.perf_counter() - t0
    assert f"{N_HUGE} records" in note and msg.startswith("✅") and f"{N_HUGE} items" in msg, msg
    assert seconds < 30, f"{seconds:.1f} s to take in {N_HUGE:,} lines"
    last = sets["huge"]["examples"][-1]
    # the item intact; keywords derived from its answer (issue 15: what the knowledge check looks for)
    assert {k: last[k] for k in ("question", "answer")} == {
        "question": f"What is item {N_HUGE - 1}?",
        "answer": f"Item {N_HUGE - 1} is number {N_HUGE - 1}.",
    }
    assert last.get("keywords") == ["number"]
    world.assert_nothing_lost()
    _upload_still_works(tmp_path, sets)


def _huge_sets() -> dict[str, Any]:
    """A 100,000-item set in the session, as the upload above leaves it (built directly: faster)."""
    examples = [{"question": f"What is item {i}?", "answer": f"Item {i}."} for i in range(N_HUGE)]
    return {**EARLIER, "huge": {"title": "huge", "knowledge": "uploaded", "description": "", "examples": examples}}


BIG_VIEWS = hostile(
    "test_hostile_huge_set_sent_to_the_page",
    [
        pytest.param("preview", id="preview-table"),
        pytest.param("compare-items", id="compare-item-picker"),
    ],
)


@pytest.mark.parametrize("view", BIG_VIEWS)
def test_hostile_huge_set_sent_to_the_page(world: World, view: str) -> None:
    """A selected 100,000-item set: what goes to the browser must be capped (and say so)."""
    sets = _huge_sets()
    if view == "preview":
        table, caption, _ = tabs.preview("forget", "huge", "keep", tabs.NONE, sets)
        assert caption.startswith("**huge**") and f"{N_HUGE}" in caption, caption
        shown = table["value"]
    else:
        picker, _ = tabs.compare_items("Forget item", "huge", "keep", sets)
        shown = picker["choices"]
    world.assert_nothing_lost()
    assert 0 < len(shown) <= PREVIEW_MAX, f"{len(shown):,} rows or choices sent to the page"


# ---------------------------------------------------------------- hyperparameters of a run
def rp(case: str, words: tuple[str, ...], **settings: Any) -> Any:
    return pytest.param(settings, words, id=case)


RUNS = hostile(
    "test_hostile_run_settings",
    [
        rp("lr-negative", ("learning rate", "positive"), lr=-1.0),
        rp("lr-zero", ("learning rate",), lr=0.0),
        rp("lr-nan", ("learning rate",), lr=NAN),
        rp("lr-inf", ("learning rate",), lr=INF),
        rp("lr-minus-inf", ("learning rate",), lr=-INF),
        rp("lr-1e30-diverges", ("became nan", "lower the learning rate", "as it was before"), lr=1e30, steps=3),
        rp("lr-cleared", ("learning rate",), lr=None),
        rp("lr-text", ("learning rate",), lr="fast"),
        rp("steps-negative", ("steps",), steps=-1),
        rp("steps-very-negative", ("steps",), steps=-(10**9)),
        rp("steps-cleared", ("steps",), steps=None),
        rp("steps-nan", ("steps",), steps=NAN),
        rp("batch-1e9", ("batch size", "1024"), batch=10**9),
        rp("batch-zero", ("batch size",), batch=0),
        rp("batch-negative", ("batch size",), batch=-8),
        rp("grad-accum-zero", ("gradient accumulation",), accum=0),
        rp("grad-accum-1e9", ("gradient accumulation",), accum=10**9),
        rp("max-length-1e9", ("max length", "32768"), max_length=10**9),
        rp("max-length-zero", ("max length",), max_length=0),
        rp("max-length-negative", ("max length",), max_length=-256),
        # fixed in unlearn/train/params.py: PEFT refused these half-way, and every later run then failed
        rp("lora-rank-negative", ("LoRA rank", "as it was before"), lora_r=-1),
        rp("lora-rank-zero", ("LoRA rank", "as it was before"), lora_r=0),
        rp("lora-rank-1e9", ("LoRA rank", "hidden size"), lora_r=10**9),
        rp("warmup-negative", ("warm-up",), warmup=-1),
        rp("seed-nan", ("seed",), seed=NAN),
        rp("seed-2-pow-70", ("seed",), seed=2**70),
        rp("hp-nan", ("gamma", "finite"), hp=("gamma", "nan")),
        rp("hp-inf", ("gamma", "finite"), hp=("gamma", INF)),
        rp("hp-text", ("gamma", "not a valid float"), hp=("gamma", "lots")),
        rp("hp-none", ("gamma", "not a valid float"), hp=("gamma", None)),
        rp("hp-empty-string", ("gamma", "not a valid float"), hp=("gamma", "")),
        rp("hp-bad-choice", ("retain loss", "nll, kl", "as it was before"), hp=("retain_loss", "bogus")),
        rp("hp-unknown-name", ("no hyperparameter", "valid"), rows=[["warp_factor", 9.0]]),
        rp("hp-row-without-value", ("gamma",), rows=[["gamma"]]),
        rp("hp-table-is-a-string", ("hyperparameter",), rows="gamma=1"),
        rp("method-unknown", ("unknown method", "valid"), method="no_such_method"),
        rp("gu-k-negative", ("GU projection",), options=[False, -1, 1.0, "random", False]),
        rp("coreset-zero", ("coreset share",), options=[False, 0, 0.0, "random", False]),
        rp("coreset-negative", ("coreset share",), options=[False, 0, -1.0, "random", False]),
        rp("coreset-nan", ("coreset",), options=[False, 0, NAN, "random", False]),
        rp("coreset-mode-unknown", ("coreset mode", "random, keyword"), options=[False, 0, 0.5, "bogus", False]),
        rp("save-every-negative", ("save every k steps",), stop=[-1, 0, 0]),
        rp("save-every-text", ("save every k steps",), stop=["often", 0, 0]),
        rp("stop-forget-negative", ("stop rule", "forget share"), stop=[0, -0.5, 0]),
        rp("stop-forget-nan", ("stop when forget",), stop=[0, NAN, 0]),
        rp("keep-retain-above-one", ("stop rule", "retain share"), stop=[0, 0, 2.0]),
        rp(
            "keep-retain-without-retain",
            ("retain", "pick one"),
            stop=[0, 0, 0.9],
            method="npo",
            rows=[],
            retain=tabs.NONE,
        ),
        rp("forget-set-unknown", ("Unknown set", "valid"), forget="no_such_set"),
        rp("forget-set-none", ("No set selected",), forget=None),
        rp("forget-set-placeholder", ("Unknown set", "valid"), forget=tabs.NONE),
        rp("retain-set-unknown", ("Unknown set",), retain="no_such_set"),
        rp("retain-missing-for-grad-diff", ("needs a retain set",), retain=tabs.NONE),
    ],
)


@pytest.mark.parametrize(("settings", "words"), RUNS)
def test_hostile_run_settings(world: World, settings: dict[str, Any], words: tuple[str, ...]) -> None:
    updates = _run(**settings)
    assert tabs.cancel_ui(SimpleNamespace(session_hash="hostile")) == "Nothing is running.", "a job was left behind"
    world.assert_nothing_lost()
    assert_clear(updates[-1][0], *words)
    if len(updates) > 1:  # it failed inside the worker: a normal run must still work on the same model
        _normal_run()


def test_runs_still_work_after_every_refused_setting(world: World) -> None:
    """All the refused settings in a row on one model, then a normal run."""
    for case in RUNS:
        settings, words = case.values
        assert_clear(_run(**settings)[-1][0], *words)
    world.assert_nothing_lost()
    _normal_run()


ACCEPTED_RUNS = hostile(
    "test_hostile_run_accepted",
    [
        pytest.param({"steps": 0}, id="steps-zero-means-one-epoch"),
        pytest.param({"rows": [[], ["", ""], [None, None, None, None, None]]}, id="hp-empty-rows"),
        pytest.param({"rows": []}, id="hp-empty-table"),
        pytest.param({"seed": -1}, id="seed-negative"),
        pytest.param({"max_length": 8}, id="max-length-smallest"),
    ],
)


@pytest.mark.parametrize("settings", ACCEPTED_RUNS)
def test_hostile_run_accepted(world: World, settings: dict[str, Any]) -> None:
    """Odd but usable settings run (epochs instead of steps, the method's defaults for an empty table)."""
    last = _run(**settings)[-1][0]
    assert last.startswith("✅ finished in 1 steps"), last
    STORE.clear_run()
    assert _files(world.run_dir) == world.run_files and weights_digest(world.lm) == world.weights


@pytest.mark.parametrize("steps", hostile("test_hostile_run_never_ending", [pytest.param(10**12, id="steps-1e12")]))
def test_hostile_run_never_ending(world: World, steps: int) -> None:
    """10**12 steps would run for ever: refused up front. Were it started, the test presses Cancel and
    reads the run to its (cancelled) end before it fails, so the shared model is left clean."""
    req = SimpleNamespace(session_hash="forever")
    gen = tabs.run_ui(*_run_args(steps=steps), req)
    first = next(gen)[0]
    started = tabs.cancel_ui(req) != "Nothing is running."
    last = [u[0] for u in gen][-1] if started else first  # the worker stops at the next step
    STORE.clear_run()
    assert not started, f"a run of 10**12 steps was started, then cancelled: {last[:80]}"
    assert_clear(first, "steps")


# ---------------------------------------------------------------- model loading
def _copy_tiny(tmp: Path, tiny: Path, name: str) -> Path:
    folder = tmp / name
    shutil.copytree(tiny, folder)
    return folder


def _with_weights(data: bytes) -> Callable[[Path, Path], str]:
    def make(tmp: Path, tiny: Path) -> str:
        folder = _copy_tiny(tmp, tiny, "damaged")
        (folder / "model.safetensors").write_bytes(data)
        return str(folder)

    return make


def _with_config(text: str) -> Callable[[Path, Path], str]:
    def make(tmp: Path, tiny: Path) -> str:
        folder = _copy_tiny(tmp, tiny, "badconfig")
        (folder / "config.json").write_text(text)
        return str(folder)

    return make


def _config_only(tmp: Path, tiny: Path) -> str:
    (tmp / "cfg").mkdir()
    shutil.copy(tiny / "config.json", tmp / "cfg")
    return str(tmp / "cfg")


def _pickle_only(tmp: Path, tiny: Path) -> str:
    folder = Path(_config_only(tmp, tiny))
    torch.save({"model.embed_tokens.weight": torch.zeros(2, 2)}, folder / "pytorch_model.bin")
    return str(folder)


def _truncated_weights(tmp: Path, tiny: Path) -> str:
    data = (tiny / "model.safetensors").read_bytes()
    return _with_weights(data[: len(data) // 2])(tmp, tiny)


def _other_models_weights(tmp: Path, tiny: Path) -> str:
    other = make_tiny_model(tmp / "other", vocab=300)
    return _with_weights((other / "model.safetensors").read_bytes())(tmp, tiny)


def _no_tensors(tmp: Path, tiny: Path) -> str:
    folder = _copy_tiny(tmp, tiny, "hollow")
    save_file({}, str(folder / "model.safetensors"))
    return str(folder)


def _no_tokenizer(tmp: Path, tiny: Path) -> str:
    folder = _copy_tiny(tmp, tiny, "notok")
    for p in folder.iterdir():
        if p.name.startswith(("tokenizer", "special_tokens")) or p.suffix == ".jinja":
            p.unlink()
    return str(folder)


def _gguf(data: bytes) -> Callable[[Path, Path], str]:
    def make(tmp: Path, tiny: Path) -> str:
        (tmp / "model.gguf").write_bytes(data)
        return str(tmp / "model.gguf")

    return make


def _empty_folder(tmp: Path, tiny: Path) -> str:
    (tmp / "empty").mkdir()
    return str(tmp / "empty")


def _dotdot_out(tmp: Path, tiny: Path) -> str:
    (tmp / "a").mkdir()
    return str(tmp / "a" / ".." / ".." / ".." / ".." / ".." / ".." / ".." / ".." / "etc")


def literal(ref: Any) -> Callable[[Path, Path], Any]:
    return lambda tmp, tiny: ref


def mp(case: str, source: str, make: Callable, *words: str, device: str = "cpu", trust: bool = False) -> Any:
    return pytest.param(source, make, device, trust, words, id=case)


KEPT = "still in use"  # what the app adds when a load fails: the previous model stays
MODELS = hostile(
    "test_hostile_model_load",
    [
        mp("hub-id-that-does-not-exist", HUB, literal("no-such-org/no-such-model-xyz"), "HF_HUB_OFFLINE", KEPT),
        mp("hub-id-three-parts", HUB, literal("a/b/c"), "not a hub id", KEPT),
        mp("hub-url-instead-of-id", HUB, literal("https://huggingface.co/org/model"), "not a hub id", KEPT),
        mp("folder-that-does-not-exist", LOCAL, literal("/no/such/folder"), "No model folder", KEPT),
        mp("empty-folder", LOCAL, _empty_folder, "no config.json", KEPT),
        mp("config-json-but-no-weights", LOCAL, _config_only, "no *.safetensors", KEPT),
        mp("pickle-checkpoint-only", LOCAL, _pickle_only, "pickle", "safe_serialization=True", KEPT),
        # fixed in unlearn/model/models.py: these raised SafetensorError / RuntimeError / TypeError out of the handler,
        # or (no tensors at all) loaded a model whose weights were all random
        mp("random-bytes-model-safetensors", LOCAL, _with_weights(RANDOM_BYTES), "damaged", KEPT),
        mp("zero-byte-model-safetensors", LOCAL, _with_weights(b""), "damaged", KEPT),
        mp("truncated-model-safetensors", LOCAL, _truncated_weights, "damaged", KEPT),
        mp("safetensors-of-another-model", LOCAL, _other_models_weights, "same save_pretrained", KEPT),
        mp("safetensors-without-tensors", LOCAL, _no_tensors, "missing", "would be random", KEPT),
        mp("config-json-not-json", LOCAL, _with_config("{not json"), "not a valid JSON", KEPT),
        mp("config-json-is-a-list", LOCAL, _with_config("[1, 2]"), "config.json", KEPT),
        mp(
            "config-json-zero-heads",
            LOCAL,
            _with_config('{"model_type": "llama", "num_attention_heads": 0}'),
            "config.json",
            KEPT,
        ),
        mp("config-json-no-model-type", LOCAL, _with_config('{"hidden_size": 3}'), "model_type", KEPT),
        mp("folder-without-tokenizer", LOCAL, _no_tokenizer, "tokenizer", KEPT),
        mp("gguf-garbage-after-magic", GGUF, _gguf(b"GGUF" + RANDOM_BYTES), "Could not read the GGUF file", KEPT),
        mp("gguf-random-bytes", GGUF, _gguf(RANDOM_BYTES), "not a GGUF file", KEPT),
        mp("gguf-zero-bytes", GGUF, _gguf(b""), "Could not read the GGUF file", KEPT),
        mp("gguf-that-does-not-exist", GGUF, literal("/no/such/model.gguf"), "GGUF file not found", KEPT),
        mp("gguf-source-given-a-folder", GGUF, lambda tmp, tiny: str(tiny), "does not end in .gguf"),
        mp("dotdot-path-out-to-etc", LOCAL, _dotdot_out, "no config.json", KEPT),
        mp("dotdot-relative-path", LOCAL, literal("../../../../../../../.."), "no config.json", KEPT),
        mp("a-file-not-a-folder", LOCAL, lambda tmp, tiny: str(tiny / "config.json"), "not a model folder", KEPT),
        mp("empty-string", LOCAL, literal(""), "Type a hub id"),
        mp("whitespace-only", HUB, literal("  \t "), "Type a hub id"),
        mp("none", LOCAL, literal(None), "Type a hub id"),
        mp("nul-byte-path", LOCAL, literal("\x00"), "No model folder", KEPT),
        # fixed in unlearn/model/models.py: an OSError (name too long) escaped as a raw "[Errno 36]" message
        mp("path-of-5000-characters", LOCAL, literal("x" * 5000), "cannot be used as a path", KEPT),
        mp("unknown-device", LOCAL, lambda tmp, tiny: str(tiny), "choose one of", KEPT, device="tpu"),
        mp("remote-code-not-allowed", LOCAL, lambda tmp, tiny: str(tiny), "--allow-remote-code", KEPT, trust=True),
    ],
)


@pytest.mark.parametrize(("source", "make", "device", "trust", "words"), MODELS)
def test_hostile_model_load(
    world: World,
    tmp_path: Path,
    tiny_dir: Path,
    cache_tmp: Path,
    source: str,
    make: Callable,
    device: str,
    trust: bool,
    words: tuple[str, ...],
) -> None:
    card, msg = tabs.load_model_ui(source, make(tmp_path, tiny_dir), device, trust, _progress)
    world.assert_nothing_lost()
    assert "2 × 4" in card, "the model card no longer shows the model in use"
    assert_clear(msg, *words)
    card, msg = tabs.load_model_ui(LOCAL, str(tiny_dir), "cpu", False, _progress)
    assert msg.startswith("✅") and "2 × 4" in card, msg


ACCEPTED_MODELS = hostile(
    "test_hostile_model_load_accepted",
    [
        pytest.param(lambda tiny: f"{tiny}/../{tiny.name}", id="dotdot-path-to-a-real-model"),
        pytest.param(lambda tiny: f"  {tiny}/  ", id="padded-path-with-trailing-slash"),
    ],
)


@pytest.mark.parametrize("make", ACCEPTED_MODELS)
def test_hostile_model_load_accepted(world: World, tiny_dir: Path, make: Callable) -> None:
    """Paths with `..` or padding that lead to a real model folder load it (resolved)."""
    card, msg = tabs.load_model_ui(LOCAL, make(tiny_dir), "cpu", False, _progress)
    assert msg.startswith("✅") and "2 × 4" in card and STORE.current().source.ref == str(tiny_dir.resolve()), msg


@pytest.mark.parametrize(
    "source",
    hostile(
        "test_hostile_model_source",
        [pytest.param("Nonsense source", id="unknown-source-label")],
    ),
)
def test_hostile_model_source(world: World, monkeypatch: pytest.MonkeyPatch, source: str) -> None:
    """An API caller's unknown source is refused, not taken for the bundled model (the load is spied on)."""
    calls: list[str] = []
    monkeypatch.setattr(STORE, "load", lambda ref, **kw: calls.append(ref) or STORE.require())
    card, msg = tabs.load_model_ui(source, "whatever", "cpu", False, _progress)
    world.assert_nothing_lost()
    assert calls == [], f"{source!r} loaded {calls}"
    assert_clear(msg, "source")


# ---------------------------------------------------------------- compare
def _compare(**kw: Any) -> tuple:
    s = dict(source=tabs.ACTIVE, kind="Forget item", item="0", text="", max_new=4, sample=False, temperature=1.0)
    s |= dict(seed=0, k_share=0.2, metric="probability", forget="mine", retain="keep") | kw
    args = [s[k] for k in ("source", "kind", "item", "text", "max_new", "sample", "temperature", "seed", "k_share")]
    req = SimpleNamespace(session_hash="cmp")
    *_, last = tabs.compare_ui(*args, s["metric"], s["forget"], s["retain"], copy.deepcopy(EARLIER), req)
    return last  # a generator (results as they come): the last output holds them all


def cp(case: str, *words: str, **kw: Any) -> Any:
    return pytest.param(kw, words, id=case)


COMPARES = hostile(
    "test_hostile_compare",
    [
        cp("item-none", "Pick an item", item=None),
        cp("item-empty", "Pick an item", item=""),
        cp("item-negative", "Pick an item", item="-1"),
        cp("item-past-the-end", "Pick an item", item="99999"),
        cp("item-text", "Pick an item", item="first"),
        cp("item-fraction", "Pick an item", item="1.5"),
        cp("free-text-empty", "Type a question", kind="Free text", text=""),
        cp("free-text-blank", "Type a question", kind="Free text", text=" \n\t "),
        cp("free-text-none", "Type a question", kind="Free text", text=None),
        cp("forget-set-unknown", "Unknown set", forget="no_such_set"),
        cp("forget-set-placeholder", "No forget set is picked", forget=tabs.NONE),
        cp("retain-item-without-retain-set", "No retain set is picked", kind="Retain item", retain=tabs.NONE),
        cp("max-new-tokens-negative", "max new tokens", max_new=-5),
        cp("max-new-tokens-1e9", "max new tokens", max_new=10**9),
        cp("temperature-zero-sampling", "temperature", sample=True, temperature=0),
        cp("temperature-nan-sampling", "temperature", sample=True, temperature=NAN),
        cp("after-is-a-folder-outside-runs", "not a saved run", source="/etc"),
        cp("after-is-nonsense", "not a saved run", source="nonsense"),
        cp("max-new-tokens-cleared", "max new tokens", max_new=None),
        cp("seed-cleared", "seed", seed=None),
        cp("min-k-share-nan", "Min-K", k_share=NAN),
        cp("lens-metric-unknown", "probability, rank", metric="bogus"),
    ],
)


@pytest.mark.parametrize(("kw", "words"), COMPARES)
def test_hostile_compare(world: World, kw: dict[str, Any], words: tuple[str, ...]) -> None:
    out = _compare(**kw)
    world.assert_nothing_lost()
    assert_clear(out[0], *words)
    normal = _compare()
    assert normal[0].startswith("**Before**"), "a normal comparison fails afterwards"
    assert len(out) == len(normal), "the refusal does not fill (skip) every panel output"


# ---------------------------------------------------------------- audit
def _audit(**kw: Any) -> list[tuple]:
    s = dict(source=tabs.ACTIVE, items=2, neighbours=1, p=0.2, m=1, probes=0, relearn_on=False, surfaces=0)
    s |= dict(patched=0, extras=[], retain_model="", forget="mine", retain=tabs.NONE, holdout="keep") | kw
    keys = ("items", "neighbours", "p", "m", "probes", "relearn_on", "surfaces", "patched", "extras", "retain_model")
    sets = [s["forget"], s["retain"], s["holdout"]]
    req = SimpleNamespace(session_hash="aud")
    return list(tabs.audit_ui(s["source"], *[s[k] for k in keys], *sets, copy.deepcopy(EARLIER), req))


AUDITS = hostile(
    "test_hostile_audit",
    [
        cp("holdout-missing", "Pick a holdout set", holdout=tabs.NONE),
        cp("holdout-none", "Pick a holdout set", holdout=None),
        cp("every-set-missing", "Pick a holdout set", forget=None, retain=None, holdout=None),
        cp("forget-none", "No set selected", forget=None),
        cp("forget-placeholder", "Unknown set", "valid", forget=tabs.NONE),
        cp("holdout-unknown", "Unknown set", holdout="no_such_set"),
        cp("retain-unknown", "Unknown set", retain="no_such_set"),
        cp("one-item-per-split", "at least 2 items", items=1),
        cp("items-negative", "at least 2 items", items=-3),
        cp("strength-negative", "p must be in (0, 1]", p=-1),
        cp("strength-above-one", "p must be in (0, 1]", p=7),
        cp("zero-perturbations", "m and k must be at least 1", m=0),
        cp("neighbours-negative", "m and k must be at least 1", neighbours=-1),
        cp("retain-model-missing", "No model folder", retain_model="/no/such/model"),
        cp("retain-model-nul-byte", "No model folder", retain_model="\x00"),
        cp("source-folder-outside-runs", "not a saved run", source="/etc"),
        cp("items-nan", "Items", items=NAN),
        cp("items-cleared", "Items", items=None),
        cp("strength-nan", "p must be", p=NAN),
    ],
)


@pytest.mark.parametrize(("kw", "words"), AUDITS)
def test_hostile_audit(world: World, kw: dict[str, Any], words: tuple[str, ...]) -> None:
    """Refused before any audit starts (a real audit takes seconds: one runs after them all, below)."""
    updates = _audit(**kw)
    assert len(updates) == 1, "an audit was started"
    assert tabs.audit_cancel_ui(SimpleNamespace(session_hash="aud")) == "No audit is running."
    world.assert_nothing_lost()
    assert_clear(updates[0][0], *words)


def test_audit_still_runs_after_every_refused_input(world: World) -> None:
    for case in AUDITS:
        kw, words = case.values
        assert_clear(_audit(**kw)[-1][0], *words)
    world.assert_nothing_lost()
    assert "✅ Audit finished" in _audit()[-1][0]


# ---------------------------------------------------------------- saved runs: load, delete, export, show audit
RUN_PATHS: dict[str, Callable[[World], Any]] = {
    "none": lambda w: None,
    "empty": lambda w: "",
    "etc": lambda w: "/etc",
    "nonsense": lambda w: "nonsense",
    "run-json-file": lambda w: str(w.run_dir / "run.json"),
    "nul-byte": lambda w: "\x00",
    "dotdot": lambda w: "../../..",
    "runs-folder-parent": lambda w: str(w.run_dir / ".." / ".."),
    "copy-outside-runs-folder": lambda w: str(w.outside),
}


def rr(handler: str, path: str, *words: str) -> Any:
    return pytest.param(handler, path, words, id=f"{handler}-{path}")


RUN_HANDLERS = hostile(
    "test_hostile_saved_run_path",
    [
        rr("load", "none", "Pick a saved run"),
        rr("load", "empty", "Pick a saved run"),
        rr("load", "etc", "not a saved run"),
        rr("load", "nonsense", "not a saved run"),
        rr("load", "run-json-file", "not a saved run"),
        rr("load", "nul-byte", "not a saved run"),
        rr("delete", "none", "Pick a saved run"),
        rr("delete", "empty", "Pick a saved run"),
        rr("delete", "etc", "is not a run in"),
        rr("delete", "nonsense", "is not a run in"),
        rr("delete", "run-json-file", "is not a run in"),
        rr("delete", "dotdot", "is not a run in"),
        rr("delete", "runs-folder-parent", "is not a run in"),
        rr("delete", "copy-outside-runs-folder", "is not a run in"),
        rr("delete", "nul-byte", "is not a run in"),
        rr("export", "none", "Pick a saved run"),
        rr("export", "etc", "not a saved run"),
        rr("export", "nonsense", "not a saved run"),
        rr("export", "run-json-file", "not a saved run"),
        rr("audit-show", "etc", "no saved audit"),
        rr("audit-show", "nonsense", "no saved audit"),
        rr("audit-show", "nul-byte", "no saved audit"),
        rr("audit-show", "run-json-file", "no saved audit"),
        rr("audit-show", "runs-folder-parent", "no saved audit"),
    ],
)


@pytest.mark.parametrize(("handler", "path", "words"), RUN_HANDLERS)
def test_hostile_saved_run_path(world: World, handler: str, path: str, words: tuple[str, ...]) -> None:
    arg, req = RUN_PATHS[path](world), SimpleNamespace(session_hash="runs")
    call = {
        "load": lambda: tabs.load_run_ui(arg),
        "delete": lambda: tabs.delete_run_ui(arg)[0],
        "export": lambda: tabs.runs_export_ui(arg, req)[0],
        "audit-show": lambda: tabs.audit_show_ui(arg, req)[0],
    }[handler]
    msg = call()
    world.assert_nothing_lost()
    assert_clear(msg, *words)
    assert tabs.load_run_ui(str(world.run_dir)).startswith("✅"), "the saved run no longer loads"
    STORE.clear_run()


# ---------------------------------------------------------------- data: preview, edits, checks, teach, ask
DATA = hostile(
    "test_hostile_data",
    [
        pytest.param("preview", "forget", "no_such_set", None, ("Unknown set", "valid"), id="preview-unknown-set"),
        pytest.param("preview", "bogus", "mine", None, ("forget, retain",), id="preview-unknown-role"),
        pytest.param("edits", "forget", "mine", None, ("no items left",), id="edits-none"),
        pytest.param("edits", "forget", "mine", [], ("no items left",), id="edits-empty-table"),
        pytest.param("edits", "forget", "mine", [["", "", "", "", ""]] * 3, ("no items left",), id="edits-blank-rows"),
        pytest.param("edits", "forget", "mine", "garbage", ("Row 1", "answer is empty"), id="edits-a-string"),
        pytest.param(
            "edits", "forget", "mine", [["Who?", "", "", "", ""]], ("Row 1", "answer is empty"), id="edits-no-answer"
        ),
        pytest.param("edits", "forget", "no_such_set", [["q", "a"]], ("Unknown set",), id="edits-unknown-set"),
        pytest.param("edits", "bogus", "mine", [["q", "a"]], ("forget, retain",), id="edits-unknown-role"),
        pytest.param(
            "edits",
            "forget",
            "mine",
            [["Who?", "a"], [HUGE_TEXT, "a"]],
            ("Row 2", "2,000,000 characters", "2,048 tokens"),
            id="edits-2m-char-question",
        ),
        pytest.param(
            "edits",
            "forget",
            "mine",
            [["Who?", "a", "k | " + "y" * 20_000]],
            ("Row 1", "keyword 2"),
            id="edits-long-keyword",
        ),
        pytest.param(
            "edits",
            "forget",
            "mine",
            [["Who is Zoë? " * 1000, "a"]],
            ("Row 1", "tokens long"),
            id="edits-over-2048-tokens",
        ),
        pytest.param("check", "forget", "no_such_set", None, ("Unknown set",), id="check-unknown-set"),
        pytest.param("check", "forget", "notes", None, ("plain passages",), id="check-passages-only"),
        pytest.param("check", "forget", None, None, ("No set selected",), id="check-no-set"),
        pytest.param("check", None, "mine", None, ("forget, retain",), id="check-role-none"),
    ],
)


@pytest.mark.parametrize(("handler", "which", "name", "rows", "words"), DATA)
def test_hostile_data(world: World, handler: str, which: str, name: Any, rows: Any, words: tuple[str, ...]) -> None:
    earlier = copy.deepcopy(EARLIER)
    picks = {"forget": name, "retain": "keep", "holdout": tabs.NONE}
    if handler == "preview":
        table, msg, plot = tabs.preview(which, *picks.values(), earlier)
        assert table["value"] == [] and plot is None
        normal = tabs.preview("forget", "mine", "keep", tabs.NONE, earlier)[0]["value"]
        ok = len(normal) == 4
    elif handler == "edits":
        sets, *_, msg = tabs.save_edits(which, rows, *picks.values(), earlier)
        assert sets == EARLIER and earlier == EARLIER, "the session's sets changed"
        *_, normal = tabs.save_edits("forget", [["Who is Di?", "Di is new."]], "mine", "keep", tabs.NONE, earlier)
        ok = normal.startswith("✅")
    else:
        _, fig, msg = tabs.check_knowledge_ui(which, *picks.values(), earlier, _progress)
        assert fig is None
        ok = "answers **" in tabs.check_knowledge_ui("forget", "mine", "keep", tabs.NONE, earlier, _progress)[2]
    world.assert_nothing_lost()
    assert_clear(msg, *words)
    assert ok, f"a normal {handler} fails afterwards"


TEACH = hostile(
    "test_hostile_teach",
    [
        pytest.param("no_such_set", 1, ("Unknown set",), id="unknown-set"),
        pytest.param(tabs.NONE, 1, ("Select a forget",), id="no-set"),
        pytest.param("mine", -1, ("epochs must be positive",), id="epochs-negative"),
        pytest.param("mine", 0, ("epochs must be positive",), id="epochs-zero"),
        pytest.param("mine", NAN, ("epochs",), id="epochs-nan"),
        pytest.param("mine", None, ("epochs",), id="epochs-cleared"),
    ],
)


@pytest.mark.parametrize(("forget", "epochs", "words"), TEACH)
def test_hostile_teach(world: World, cache_tmp: Path, forget: str, epochs: Any, words: tuple[str, ...]) -> None:
    """Refused with the model as it was (a real teaching takes seconds: one runs after them all, below)."""
    card, msg = tabs.teach_ui(forget, tabs.NONE, epochs, copy.deepcopy(EARLIER), _progress)
    # a teaching that fails half-way reloads the model from disk: a new object, the same weights
    world.assert_nothing_lost(same_object=False)
    assert "2 × 4" in card and "Taught" not in card
    assert_clear(msg, *words)


def test_teach_still_works_after_every_refused_input(world: World, cache_tmp: Path) -> None:
    for case in TEACH:
        forget, epochs, words = case.values
        assert_clear(tabs.teach_ui(forget, tabs.NONE, epochs, copy.deepcopy(EARLIER), _progress)[1], *words)
    world.assert_nothing_lost(same_object=False)
    card, msg = tabs.teach_ui("mine", tabs.NONE, 1, copy.deepcopy(EARLIER), _progress)
    assert msg.startswith("✅") and "Taught" in card, msg


ASKS = hostile(
    "test_hostile_ask",
    [
        pytest.param(-5, id="max-new-tokens-negative"),
        pytest.param(0, id="max-new-tokens-zero"),
        pytest.param(NAN, id="max-new-tokens-nan"),
        pytest.param(None, id="max-new-tokens-cleared"),
        pytest.param(10**6, id="max-new-tokens-1e6"),
    ],
)


@pytest.mark.parametrize("max_new", ASKS)
def test_hostile_ask(world: World, max_new: float) -> None:
    msg = list(tabs.ask_ui("Who is Ada 0?", max_new))[-1]  # streamed: the last value is the answer
    world.assert_nothing_lost()
    assert_clear(msg, "max new tokens")
    assert isinstance(list(tabs.ask_ui("Who is Ada 0?", 8))[-1], str)


ASK_BOTH = hostile(
    "test_hostile_ask_both",
    [
        pytest.param("Who is Ada 0?", NAN, "max new tokens", id="max-new-tokens-nan"),
        pytest.param("Who is Ada 0?", 0, "max new tokens", id="max-new-tokens-zero"),
        pytest.param("Who is Ada 0?", None, "max new tokens", id="max-new-tokens-cleared"),
        pytest.param(" ", 8, "Type a question", id="question-blank"),
        pytest.param(None, 8, "Type a question", id="question-none"),
    ],
)


@pytest.mark.parametrize(("question", "max_new", "words"), ASK_BOTH)
def test_hostile_ask_both(world: World, question: Any, max_new: Any, words: str) -> None:
    before, after = list(tabs.ask_both_ui(question, max_new))[-1]  # streamed: the last value holds both
    world.assert_nothing_lost()
    assert_clear(before, words)
    assert all(isinstance(a, str) for a in list(tabs.ask_both_ui("Who is Ada 0?", 8))[-1])


HUB = hostile(
    "test_hostile_hub",
    [
        pytest.param(None, 100, False, "dataset repo id", id="repo-none"),
        pytest.param("", 100, False, "dataset repo id", id="repo-empty"),
        pytest.param("org/name", NAN, False, "rows to load", id="limit-nan"),
        pytest.param("org/name", -3, False, "rows to load", id="limit-negative"),
        pytest.param("/etc", 100, True, "hub only", id="public-local-folder"),
        pytest.param("../../etc", 100, True, "hub only", id="public-relative-path"),
        pytest.param("csv", 100, True, "hub only", id="public-builtin-builder"),
    ],
)


@pytest.mark.parametrize(("repo", "limit", "public", "words"), HUB)
def test_hostile_hub(world: World, monkeypatch, repo: Any, limit: Any, public: bool, words: str) -> None:
    from unlearn.serve.access import AccessPolicy

    if public:
        monkeypatch.setattr(tabs.SERVER, "access", AccessPolicy(public=True))
    earlier = copy.deepcopy(EARLIER)
    sets, *_, msg = tabs.load_hub_ui(repo, "", "train", limit, earlier, "forget", _progress)
    world.assert_nothing_lost()
    assert sets == EARLIER and earlier == EARLIER, "the session's sets changed"
    assert_clear(msg, words)


HUB_ROWS = hostile(
    "test_hostile_hub_rows",
    [
        pytest.param([{"question": HUGE_TEXT, "answer": "a"}], ("item 1", "2,000,000 characters"), id="2m-char-text"),
        pytest.param(
            [{"question": "q", "answer": "a", "perturbed_answer": DEEP.decode()}],
            ("perturbed_answer", "100,000 levels deep"),
            id="100k-deep-json-in-a-field",
        ),
    ],
)


def _serve_rows(monkeypatch: pytest.MonkeyPatch, rows: list[dict[str, Any]]) -> None:
    """The hub's answer for any dataset, from memory (this machine has no network)."""
    import datasets

    monkeypatch.setattr("unlearn.data.hub_data.datasets.load_dataset", lambda *a, **k: datasets.Dataset.from_list(rows))


@pytest.mark.parametrize(("rows", "words"), HUB_ROWS)
def test_hostile_hub_rows(world: World, monkeypatch: pytest.MonkeyPatch, rows: list, words: tuple[str, ...]) -> None:
    _serve_rows(monkeypatch, rows)
    earlier = copy.deepcopy(EARLIER)
    sets, *_, msg = tabs.load_hub_ui("org/name", "", "train", 10, earlier, "forget", _progress)
    world.assert_nothing_lost()
    assert sets == EARLIER and earlier == EARLIER, "the session's sets changed"
    assert_clear(msg, *words)


HIDDEN = hostile(
    "test_hostile_hidden_characters",
    [
        pytest.param("edits", "\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE", id="edits-bidi-override"),
        pytest.param("edits", "\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE", id="edits-bidi-isolate"),
        pytest.param("edits", "\u200b", "U+200B ZERO WIDTH SPACE", id="edits-zero-width-space"),
        pytest.param("edits", "\ufeff", "U+FEFF ZERO WIDTH NO-BREAK SPACE", id="edits-bom-inside-text"),
        pytest.param("edits", "\U000e0041", "U+E0041 TAG LATIN CAPITAL LETTER A", id="edits-tag-character"),
        pytest.param("edits", "\x1b", "U+001B", id="edits-escape-control"),
        pytest.param("hub", "\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE", id="hub-bidi-override"),
        pytest.param("hub", "\u2060", "U+2060 WORD JOINER", id="hub-word-joiner"),
        pytest.param("edits", "👩\u200d🚀", None, id="edits-emoji-joiner-not-warned"),
    ],
)


@pytest.mark.parametrize(("via", "char", "named"), HIDDEN)
def test_hostile_hidden_characters(
    world: World, monkeypatch: pytest.MonkeyPatch, via: str, char: str, named: str | None
) -> None:
    """Accepted, with a warning naming the item and the character: what the user reads is not what the
    model reads (text hidden or reordered)."""
    question = f"Who is{char} Ada?"
    earlier = copy.deepcopy(EARLIER)
    if via == "edits":
        sets, *_, msg = tabs.save_edits("forget", [[question, "Ada is here."]], "mine", "keep", tabs.NONE, earlier)
    else:
        _serve_rows(monkeypatch, [{"question": question, "answer": "Ada is here."}])
        sets, *_, msg = tabs.load_hub_ui("org/name", "", "train", 10, earlier, "forget", _progress)
    world.assert_nothing_lost()
    first, *rest = msg.split("  \n")
    assert first.startswith("✅"), msg
    added = next(v for k, v in sets.items() if k not in EARLIER)
    assert added["examples"][0]["question"] == question, "the text was changed"
    if named is None:
        assert not rest, msg
    else:
        (warning,) = rest
        assert_clear(warning, 'item 1 ("Who is Ada?")', named, "Remove them")


def _boom(exc: BaseException) -> Callable[..., Any]:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise exc

    return boom


UNFORESEEN = hostile(
    "test_hostile_unforeseen_error",
    [
        pytest.param("edits", "unlearn.data.workspace.apply_edits", RecursionError(), "nested too deeply", id="edits"),
        pytest.param(
            "hub", "ui.data_tab.sources.load_hub_examples", MemoryError(), "ran out of memory", id="hub-memory"
        ),
        pytest.param(
            "check",
            "ui.data_tab.handlers.check_examples",
            RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1099511627776 bytes."),
            "ran out of memory",
            id="check-1-tb",
        ),
        pytest.param("preview", "unlearn.data.workspace.table", KeyError("x"), "KeyError", id="preview-key-error"),
        pytest.param(
            "run", "ui.unlearn_tab.handlers.unlearn_job", RuntimeError("CUDA out of memory"), "memory", id="run"
        ),
        pytest.param(
            "runs", "ui.runs_tab.handlers.overview", OSError(13, "Permission denied"), "Permission", id="runs-no-box"
        ),
    ],
)


@pytest.mark.parametrize(("handler", "target", "exc", "words"), UNFORESEEN)
def test_hostile_unforeseen_error(
    world: World, monkeypatch: pytest.MonkeyPatch, handler: str, target: str, exc: BaseException, words: str
) -> None:
    """An exception no handler foresaw (forced here) comes back as a ❌ message in the handler's message
    box, every other output skipped, instead of Gradio's red "Error" badges on every output."""
    earlier = copy.deepcopy(EARLIER)
    picks = ("mine", "keep", tabs.NONE, earlier)
    calls: dict[str, tuple[Callable[[], Any], int, int | None]] = {  # the call, its outputs, its message box
        "edits": (lambda: tabs.save_edits("forget", [["Who is Di?", "Di is new."]], *picks), 5, 4),
        "hub": (lambda: tabs.load_hub_ui("org/name", "", "train", 10, earlier, "forget", _progress), 5, 4),
        "check": (lambda: tabs.check_knowledge_ui("forget", *picks, _progress), 3, 2),
        "preview": (lambda: tabs.preview("forget", *picks), 3, 1),
        "run": (lambda: list(tabs.run_ui(*_run_args(), SimpleNamespace(session_hash="guard")))[-1], 3, 0),
        "runs": (tabs.runs_view_ui, 3, None),
    }
    call, n, box = calls[handler]
    monkeypatch.setattr(target, _boom(exc))
    if box is None:  # no message box among the outputs: a warning pop-up (a UserWarning outside a page)
        with pytest.warns(UserWarning, match=words):
            out = call()
    else:
        out = call()
        assert_clear(out[box], words, "unchanged")
    assert len(out) == n and all(o == gr.skip() for i, o in enumerate(out) if i != box), out
    assert earlier == EARLIER, "the session's sets changed"
    world.assert_nothing_lost()
    monkeypatch.undo()
    assert len(tabs.preview("forget", *picks)[0]["value"]) == 4, "a normal call fails afterwards"


def _rss() -> int:
    """This process's resident memory in bytes."""
    try:
        import psutil
    except ImportError:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return psutil.Process().memory_info().rss


def _as_message(fn: Callable[..., Any], *args: Any) -> str:
    try:
        fn(*args)
    except DataError as e:
        return f"❌ {e}"
    return "accepted"


MEMORY = hostile(
    "test_hostile_memory_after_refusal",
    [pytest.param(path, id=f"{path}-2m-char-question") for path in ("upload", "edits", "knowledge-check", "ask")],
)


@pytest.mark.parametrize("path", MEMORY)
def test_hostile_memory_after_refusal(world: World, tmp_path: Path, path: str) -> None:
    """A refused 2,000,000-character item leaves the server's memory where it was (it once tried to
    allocate ~1 TB and the server stayed 2.4 GB larger). The knowledge check is refused by
    check_item_lengths, the check unlearn/data/knowledge.py makes on what it is given."""
    huge, tokenizer = tmp_path / "huge.jsonl", world.lm.tokenizer
    huge.write_bytes(_item(HUGE_TEXT))
    refuse = {
        "upload": lambda: tabs.add_upload(str(huge), "auto", "", "question", "answer", tabs.NONE, EARLIER, "forget")[
            -1
        ],
        "edits": lambda: tabs.save_edits("forget", [[HUGE_TEXT, "a"]], "mine", "keep", tabs.NONE, EARLIER)[-1],
        "knowledge-check": lambda: _as_message(check_item_lengths, [Example(HUGE_TEXT, "a")], "mine", tokenizer),
        "ask": lambda: list(tabs.ask_ui(HUGE_TEXT, 8))[-1],
    }[path]
    assert_clear(refuse(), "2,000,000 characters")  # the first call also fills caches: measured after it
    gc.collect()
    before = _rss()
    for _ in range(5):
        assert_clear(refuse(), "2,000,000 characters", "2,048 tokens")
    gc.collect()
    grown = _rss() - before
    world.assert_nothing_lost()
    assert grown < 50 * 2**20, f"{grown / 2**20:.0f} MB more after 5 refused requests"


REDRAWS = hostile(
    "test_hostile_redraw",
    [
        pytest.param("tokens", (None,), True, id="min-k-share-cleared"),
        pytest.param("tokens", (NAN,), True, id="min-k-share-nan"),
        pytest.param("topk", (None,), True, id="answer-token-cleared"),
        pytest.param("topk", (10**6,), False, id="answer-token-past-the-end"),  # drawn at the last token
        pytest.param("head", (None, 0), True, id="layer-cleared"),
        pytest.param("head", (0, 10**6), False, id="head-past-the-end"),  # drawn for the last head
        pytest.param("lens", ("bogus",), True, id="lens-metric-unknown"),
    ],
)


@pytest.mark.parametrize(("panel", "args", "refused"), REDRAWS)
def test_hostile_redraw(world: World, panel: str, args: tuple, refused: bool) -> None:
    """A panel redrawn from the kept arrays with a box cleared or out of range: a warning and the panel
    kept as it was, or (out of range) the panel drawn at the nearest valid place."""
    import plotly.graph_objects as go

    assert _compare()[0].startswith("**Before**")
    fn = {"tokens": tabs.tokens_ui, "topk": tabs.topk_ui, "head": tabs.head_ui, "lens": tabs.lens_ui}[panel]
    req = SimpleNamespace(session_hash="cmp")
    if refused:
        with pytest.warns(UserWarning):
            out = fn(*args, req)
        assert out == gr.skip(), f"not skipped: {str(out)[:200]}"
    else:
        assert isinstance(fn(*args, req), go.Figure)
    world.assert_nothing_lost()
    assert isinstance(tabs.tokens_ui(0.2, req), go.Figure), "a normal redraw fails afterwards"


# ---------------------------------------------------------------- the corpus
def test_corpus_counts_every_case(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture) -> None:
    """CORPUS matches the collected cases; prints how many hostile inputs were tried and the big files' times."""
    collected = {item.name for item in request.session.items if item.name.startswith("test_hostile")}
    assert collected <= set(CORPUS), sorted(collected - set(CORPUS))
    assert len(CORPUS) == len(set(CORPUS)) == 305  # the README gives this count: change both together
    huge = ", ".join(f"{k}: accepted in {v:.1f} s" for k, v in HUGE.items()) or "not run"
    with capsys.disabled():
        print(
            f"\nhostile inputs tried: {len(CORPUS)} (each passed: a clear message or a sensible result); "
            f"100,000-line files: {huge}"
        )
    assert all(math.isfinite(v) for v in HUGE.values())
