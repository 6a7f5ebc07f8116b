"""Compare tab: generate and probe before and after once per press; panels redrawn from kept arrays."""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from ui.common import ACTIVE, AGAINST_ITSELF, NONE, error_line, guarded, new_tokens, number, user_of
from ui.forms import slots, takes
from ui.shared import RESULTS, compare_sources
from unlearn.data import workspace as ws
from unlearn.data.examples import Example
from unlearn.data.formats import DataError
from unlearn.errors import UserError
from unlearn.inspection.attribution import METHODS as ATTRIBUTION_METHODS
from unlearn.inspection.attribution import attribute
from unlearn.inspection.compare import MAX_TOKENS, Comparison, Decoding, compare
from unlearn.inspection.streaming import Emit, in_thread
from unlearn.model import pair
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from viz import panels
from viz.attribution import attribution_bars
from viz.export import figures_html
from viz.lens import METRICS as LENS_METRICS
from viz.tokens import word_diff

# ---------------------------------------------------------------- compare
PROMPT_KINDS = ["Forget item", "Retain item", "Free text"]


@guarded(message=None)
def refresh_sources() -> dict:
    return gr.update(choices=compare_sources(), value=ACTIVE)


@guarded(2, None)
def compare_items(kind: str, forget: str, retain: str, user_sets: ws.UserSets) -> tuple[dict, dict]:
    """The item picker for a forget / retain prompt, or the free-text box."""
    if kind == "Free text":
        return gr.update(visible=False), gr.update(visible=True)
    name = forget if kind == "Forget item" else retain
    try:
        ds = ws.resolve(name, user_sets) if name and name != NONE else None
    except DataError:
        ds = None
    shown = (ds.examples if ds else [])[: ws.TABLE_LIMIT]  # a picker of 100,000 choices would freeze the page
    items = [(f"{i + 1}. {(e.question or e.answer)[:100]}", str(i)) for i, e in enumerate(shown)]
    return gr.update(choices=items, value=items[0][1] if items else None, visible=True), gr.update(visible=False)


def _prompt(kind: str, item: str | None, text: str, forget: str, retain: str, user_sets: ws.UserSets) -> Example:
    if kind == "Free text":
        if not (text or "").strip():
            raise UserError("Type a question in the free-text box first.")
        return Example(text.strip(), "")
    name = forget if kind == "Forget item" else retain
    if not name or name == NONE:
        raise UserError(f"No {kind.split()[0].lower()} set is picked: choose one in Model & data.")
    ds = ws.resolve(name, user_sets)
    if item is None or not str(item).isdigit() or int(item) >= len(ds.examples):
        raise UserError("Pick an item first.")
    return ds.examples[int(item)]


def _session_result(request: gr.Request) -> dict[str, Any]:
    got = RESULTS.get(request.session_hash)
    if got is None:
        raise UserError("Press Compare first (results are kept for the most recent sessions only).")
    return got


def _compare_note(c: Comparison) -> str:
    p = c.before.probe
    t = c.seconds
    lines = [
        f"**Before** = the model as loaded · **after** = {c.run_label}. Scoring the {c.target.removeprefix('the ')} "
        f"({len(p.tokens) - p.answer_start} tokens) after a prompt of {p.answer_start} tokens; "
        f"computed in {sum(t.values()):.1f} s (generation {t.get('generate', 0):.1f} s, "
        f"probes {t.get('probe', 0):.1f} s)."
    ]
    if not c.has_run:
        lines.append("No run is compared: before and after are the same model, so every difference is zero.")
    if c.truncated:
        lines.append(f"⚠️ The prompt was longer than {MAX_TOKENS} tokens: its beginning was cut (left) for the probes.")
    return "  \n".join(lines)


def _export(session: str, got: dict[str, Any]) -> str:
    """All of this session's figures in one offline HTML file; returns its path."""
    c = got["c"]
    figs = {**got["figs"], **got.get("later", {})}  # attribution and patching, where they were drawn
    q = c.example.question or c.example.answer[:80]
    folder = Path(tempfile.gettempdir()) / "unlearning-inspector" / session
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compare.html"
    path.write_text(figures_html(f"Before | after: {q}", figs, [_compare_note(c).replace("**", "")]), "utf-8")
    return str(path)


# compare_ui's outputs in order (the page wires its components by these names): figures by their export name
SLOTS = (
    "note",
    "before",
    "after",
    "Token probabilities",
    "position",
    "Top-k alternatives",
    "Logit lens",
    "Attention: change per head",
    "Attention: every head",
    "layer",
    "head",
    "Attention: one head",
    "Attention rollout",
    "download",
)


# what a new comparison's first results clear of the last one (the sliders keep their place)
CLEARED = {s: None for s in SLOTS if s not in ("note", "position", "layer", "head")} | {"before": [], "after": []}


def _panel_groups(c: Comparison, k_share: float, metric: str) -> Iterator[dict[str, Any]]:
    """Every probe panel at its default view, a group at a time in page order ({slot: value}), so
    the page can show each group as soon as it is drawn."""
    n_answer = len(panels.answer_tokens(c))
    drop = panels.biggest_drop(c)
    yield {
        "Token probabilities": panels.strips(c, k_share),
        "position": gr.update(maximum=max(n_answer - 1, 1), value=drop),
        "Top-k alternatives": panels.topk(c, drop),
    }
    yield {"Logit lens": panels.lens(c, metric)}
    layer, head = panels.most_changed_head(c)  # the enlarged head: the one that moved most
    n_layers, n_heads = c.before.probe.attentions.shape[:2]
    yield {
        "Attention: change per head": panels.change_map(c),
        "Attention: every head": panels.grid(c),
        "layer": gr.update(maximum=n_layers, value=layer),
        "head": gr.update(maximum=n_heads - 1, value=head),
        "Attention: one head": panels.head(c, layer, head),
    }
    yield {"Attention rollout": panels.rollout(c)}


def _generations(before: str, after: str) -> dict[str, Any]:
    """The two answers as they are being written: plain text (the differences are marked at the end)."""
    return {"before": [(before, None)] if before else [], "after": [(after, None)] if after else []}


def _compare_work(source: str, ex: Example, dec: Decoding, user: str | None, server: Server) -> Callable[[Emit], Any]:
    """The comparison on the shared model, run in a worker thread that holds the model lock for all
    of it: emits the comparison once probed, then both answers so far after every token."""

    def work(emit: Emit) -> tuple[Comparison, str | None]:
        with STORE.lock:
            lm = STORE.require()

            def on_text(before: str, after: str) -> None:
                emit((before, after), partial=True)

            p = pair.pick(source, server.access, user)
            with p.after():  # the model as after; compare() enters p.reference for the before side
                c = compare(
                    lm.model,
                    lm.tokenizer,
                    p.reference,
                    ex,
                    dec,
                    p.has_run,
                    p.label,
                    side_by_side=p.side_by_side,
                    on_probes=emit,
                    on_text=on_text,
                )
            return c, p.run_dir

    return work


@dataclass
class CompareForm:
    """The comparison's settings as the Compare tab shows them: raw widget values, checked by compare_ui.
    The order is the API's (`/compare` takes one value per field)."""

    source: Any
    kind: Any
    item: Any
    text: Any
    max_new: Any
    sample: Any
    temperature: Any
    seed: Any
    k_share: Any
    metric: Any
    forget: Any
    retain: Any
    user_sets: Any


@guarded(len(SLOTS), 0)
@takes(CompareForm)
def compare_ui(f: CompareForm, request: gr.Request, *, server: Server):
    """Probe and generate with both models once, showing each result as it comes: with a gold answer
    the panels first (one forward per model), a group at a time, then both answers token by token;
    free text is scored on the before model's answer, so there the answers come first. The last
    output holds everything, as one call returned before; the session keeps the arrays."""
    try:
        STORE.require()
        ex = _prompt(f.kind, f.item, f.text, f.forget, f.retain, f.user_sets)
        dec = Decoding(
            new_tokens(f.max_new),
            bool(f.sample),
            number(f.temperature, "temperature"),
            seed=number(f.seed, "seed", int),
        )
        dec.check()
        k_share = number(f.k_share, "Min-K% share")
        if f.metric not in LENS_METRICS:
            raise UserError(f"unknown lens metric {f.metric!r}: choose one of {', '.join(LENS_METRICS)}")
    except (UserError, RuntimeError, OSError) as e:
        yield slots(SLOTS, note=error_line(e))
        return
    generating = f"⏳ Generating (up to {dec.max_new_tokens} new tokens per model)…"
    probes_first = bool(ex.answer.strip())
    yield slots(SLOTS, note="⏳ One forward per model for the panels…" if probes_first else generating)
    clear = CLEARED  # the first results clear what is left of the last comparison; until then it stays
    got: dict[str, Any] | None = None
    shown: dict[str, Any] = {}  # the panels as drawn, sent again at the end (the page redraws nothing)
    try:
        with closing(in_thread(_compare_work(f.source, ex, dec, user_of(request), server))) as events:
            for what, value in events:
                if what == "partial":  # both answers so far
                    yield slots(SLOTS, **clear | _generations(*value))
                elif what == "event":  # probed: every panel, a group at a time
                    for group in _panel_groups(value, k_share, f.metric):
                        shown |= group
                        yield slots(SLOTS, **clear | group)
                        clear = {}
                    figs = {k: v for k, v in shown.items() if isinstance(v, go.Figure)}  # in page order
                    got = {"c": value, "figs": figs, "source": f.source, "run_dir": None}
                    RESULTS.put(request.session_hash, got)  # the controls redraw from what the page shows
                    if probes_first and ex.is_qa:
                        yield slots(SLOTS, note=f"Panels drawn. {generating}")
                else:
                    c, run_dir = value
                clear = {}
    except (UserError, RuntimeError, OSError) as e:
        yield slots(SLOTS, note=error_line(e))
        return
    assert got is not None and got["c"] is c, "compare() hands its probes over before it returns"
    got["run_dir"] = run_dir
    RESULTS.put(request.session_hash, got)
    left, right = word_diff(c.before.generation or "(no text)", c.after.generation or "(no text)")
    yield slots(
        SLOTS,
        note=_compare_note(c),
        before=left,
        after=right,
        download=_export(request.session_hash, got),
        **shown,
    )


def _redraw(request: gr.Request, name: str, draw) -> Any:
    """Redraw one panel from the session's kept arrays (no model call)."""
    try:
        got = _session_result(request)
    except ValueError as e:
        gr.Warning(str(e))
        return gr.skip()
    try:
        got["figs"][name] = fig = draw(got["c"])
    except (ValueError, TypeError, IndexError) as e:  # a box cleared or out of range: say so, keep the panel
        gr.Warning(str(e))
        return gr.skip()
    return fig


@guarded(message=None)
def tokens_ui(k_share: float, request: gr.Request):
    return _redraw(request, "Token probabilities", lambda c: panels.strips(c, number(k_share, "Min-K% share")))


@guarded(message=None)
def topk_ui(position: float, request: gr.Request):
    return _redraw(request, "Top-k alternatives", lambda c: panels.topk(c, number(position, "answer token", int)))


@guarded(message=None)
def lens_ui(metric: str, request: gr.Request):
    return _redraw(request, "Logit lens", lambda c: panels.lens(c, metric))


@guarded(message=None)
def head_ui(layer: float, head: float, request: gr.Request):
    return _redraw(
        request, "Attention: one head", lambda c: panels.head(c, number(layer, "layer", int), number(head, "head", int))
    )


@guarded(3, 0)
def attribution_ui(method_label: str, request: gr.Request, *, server: Server):
    """Captum attribution of the compared answer to the question tokens, before and after."""
    method = next((k for k, v in ATTRIBUTION_METHODS.items() if v == method_label), method_label)
    try:
        got = _session_result(request)
        c = got["c"]
        lm = STORE.require()
        with STORE.lock:
            _same_run(got)
            p = pair.pick(AGAINST_ITSELF if got["source"] == AGAINST_ITSELF else ACTIVE, server.access)
            with p.before():
                b = attribute(lm.model, lm.tokenizer, c.example, method, MAX_TOKENS)
            if c.has_run:
                with p.after():
                    a = attribute(lm.model, lm.tokenizer, c.example, method, MAX_TOKENS)
            else:  # one model on both sides: the same attribution
                a = b
    except (RuntimeError, ValueError) as e:
        return error_line(e), gr.skip(), gr.skip()
    got.setdefault("later", {})["Attribution"] = fig = attribution_bars(b.tokens, b.scores, a.scores, method)
    seconds = b.seconds + (a.seconds if a is not b else 0.0)
    note = f"{ATTRIBUTION_METHODS[method]}: {seconds:.1f} s for both models."
    return note, fig, _export(request.session_hash, got)


def _same_run(got: dict[str, Any]) -> None:
    """A follow-up computation (attribution, patching) must see the models the comparison saw."""
    run = STORE.active_run()
    if got["source"] != AGAINST_ITSELF and (run.run_dir if run else None) != got["run_dir"]:
        raise UserError("The model's run changed since your comparison (another user?): press Compare again.")
