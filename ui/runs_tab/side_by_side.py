"""Runs tab, side by side: two to six saved runs on one item (unlearn/inspection/runs_side.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import gradio as gr

from ui.common import error_line, guarded, new_tokens
from unlearn.data.examples import Example
from unlearn.data.formats import DataError
from unlearn.data.set_refs import load_set
from unlearn.errors import UserError
from unlearn.inspection.compare import Decoding
from unlearn.inspection.runs_side import MAX_RUNS, MIN_RUNS, SideBySide, runs_side_by_side
from unlearn.inspection.streaming import Emit, in_thread
from unlearn.model import pair
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from viz.runs_side import side_rows, side_strips, side_topk

ITEMS_SHOWN = 200  # the picker lists the forget set's first items


def _forget_items(run_dir: str, server: Server) -> tuple[str, list[Example]]:
    """The first picked run's forget set (name, question-answer items)."""
    record = pair.read_record(run_dir, server.access)
    name = record.get("sets", {}).get("forget")
    if not name:
        raise UserError(f"run {record['id']} names no forget set: its items cannot be listed")
    try:
        items = [e for e in load_set(name) if e.is_qa]
    except (DataError, OSError, ValueError) as e:
        raise UserError(f"the forget set {name!r} of run {record['id']} cannot be read here ({e})") from e
    return name, items


@guarded(message=None)
def add_to_side(run_dir: str | None, picked: list[str] | None) -> dict:
    """The run picked above (in the table's and scatter's order) joins the side-by-side picker.

    >>> add_to_side("b", ["a"])["value"], add_to_side("a", ["a"])["value"], add_to_side(None, ["a"])["value"]
    (['a', 'b'], ['a'], ['a'])
    """
    picked = list(picked or [])
    if run_dir and run_dir not in picked:
        if len(picked) >= MAX_RUNS:
            gr.Warning(f"Side by side takes at most {MAX_RUNS} runs: remove one first.")
            return gr.update()
        picked.append(run_dir)
    return gr.update(value=picked)


@guarded(2, 1)
def side_items_ui(run_dirs: list[str] | None, *, server: Server) -> tuple[dict, str]:
    """The item picker: the first picked run's forget set."""
    if not run_dirs:
        return gr.update(choices=[], value=None), ""
    try:
        name, items = _forget_items(run_dirs[0], server)
    except (UserError, ValueError, OSError) as e:
        return gr.update(choices=[], value=None), error_line(e)
    choices = [(f"{i + 1}. {e.question[:90]}", str(i)) for i, e in enumerate(items[:ITEMS_SHOWN])]
    note = f"Items of **{name}** (the forget set of the first run picked)."
    return gr.update(choices=choices, value=choices[0][1] if choices else None), note


def side_figures(s: SideBySide) -> tuple[list[list[str]], Any, Any]:
    """The table, the token strips and the top-k panels of a side-by-side view."""
    labels = [v.label for v in s.views]
    pos = s.biggest_drop()
    strips = side_strips(s.tokens, labels, [v.gold_logprob for v in s.views], pos)
    gold = s.tokens[pos] if s.tokens else None
    context = (s.example.question + " " + "".join(s.tokens[:pos])).strip()
    tops = [(v.top_tokens[pos], v.top_probs[pos]) for v in s.views] if s.tokens else [([], [])] * len(labels)
    topk = side_topk(labels, tops, gold, context)
    return side_rows(labels, [v.generation for v in s.views], [v.figures for v in s.views]), strips, topk


def _work(run_dirs: list[str], ex: Example, dec: Decoding) -> Callable[[Emit], SideBySide]:
    def work(emit: Emit) -> SideBySide:
        with pair.without_run() as lm:  # the model as loaded; the run that was on it comes back after
            return runs_side_by_side(lm, run_dirs, ex, dec, progress=lambda line: emit(line, partial=True))

    return work


@guarded(4, 0)
def side_by_side_ui(run_dirs: list[str] | None, item: str | None, max_new: Any, request: gr.Request, *, server: Server):
    """Generator: a line per model as it is computed, then the table and both figures."""
    run_dirs = list(run_dirs or [])
    try:
        if not MIN_RUNS <= len(run_dirs) <= MAX_RUNS:
            raise UserError(f"Pick {MIN_RUNS} to {MAX_RUNS} runs to put side by side (picked {len(run_dirs)}).")
        STORE.require()
        for d in run_dirs:
            pair.read_record(d, server.access)
        _, items = _forget_items(run_dirs[0], server)
        if item is None or not str(item).isdigit() or int(item) >= len(items):
            raise UserError("Pick an item first.")
        ex = items[int(item)]
        dec = Decoding(new_tokens(max_new))  # the run on the model comes back after, under the lock all along
    except (UserError, ValueError, OSError, RuntimeError) as e:
        yield error_line(e), gr.skip(), gr.skip(), gr.skip()
        return
    started = time.perf_counter()
    try:
        with closing(in_thread(_work(run_dirs, ex, dec))) as events:
            for what, value in events:
                if what == "partial":
                    yield f"⏳ {value} ({time.perf_counter() - started:.0f} s)", gr.skip(), gr.skip(), gr.skip()
                else:
                    s = value
    except (UserError, RuntimeError, ValueError, OSError) as e:
        yield error_line(e), gr.skip(), gr.skip(), gr.skip()
        return
    rows, strips, topk = side_figures(s)
    names = ", ".join(Path(d).name for d in run_dirs)
    note = (
        f"{len(run_dirs)} runs ({names}) and the model as loaded on “{ex.question}”, greedy answers of up to "
        f"{dec.max_new_tokens} tokens; computed in {time.perf_counter() - started:.0f} s."
    )
    yield note, rows, strips, topk
