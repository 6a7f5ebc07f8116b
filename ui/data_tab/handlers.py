"""Model & data tab: load a model, pick / preview / edit / upload / fetch sets, check knowledge, teach, ask."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from typing import Any

import gradio as gr

from ui.common import NONE, PLACEHOLDERS, SOURCES, error_line, guarded, new_tokens, number, user_of
from ui.data_tab.sources import picker_updates
from unlearn.data import workspace as ws
from unlearn.data.builtin import KNOWLEDGE_NOTES, DataSet
from unlearn.data.formats import DataError
from unlearn.data.holdout import own_holdout, same_source
from unlearn.data.item_checks import control_char_warning, length_problem
from unlearn.data.knowledge import check_examples, with_checks
from unlearn.data.teach import TeachConfig, teach
from unlearn.inspection.streaming import Emit, TextStreamer, in_thread
from unlearn.model.models import BUNDLED, ModelLoadError
from unlearn.model.scoring import generate_answers
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from viz.cards import knowledge_line, model_card
from viz.sets import knowledge_bars


# ---------------------------------------------------------------- model
@guarded()
def show_model() -> str:
    lm = STORE.current()
    return model_card(lm.info() if lm else None)


@guarded(message=None)
def on_source_change(source: str) -> dict:
    kind = SOURCES[source]
    return gr.update(visible=kind != "bundled", placeholder=PLACEHOLDERS[kind], value="")


@guarded(2, 1)
def load_model_ui(
    source: str,
    ref: str,
    device: str,
    trust: bool,
    progress=gr.Progress(),  # noqa: B008
    request: gr.Request | None = None,
    *,
    server: Server,
) -> tuple[str, str]:
    kind = SOURCES.get(source)
    if kind is None:
        return show_model(), f"❌ Unknown source {source!r}: choose one of {', '.join(SOURCES)}."
    ref = BUNDLED if kind == "bundled" else (ref or "").strip()
    if not ref:
        return show_model(), "❌ Type a hub id, a folder or a .gguf path first."
    if kind == "gguf" and not ref.lower().endswith(".gguf"):
        return show_model(), f"❌ {ref} does not end in .gguf: pick the right source or fix the path."
    try:
        server.access.check_operator(user_of(request), "load a model")
        server.access.check_model(ref, bool(trust))
        lm = STORE.load(ref, device=device, trust_remote_code=trust, progress=lambda f, m: progress(f, desc=m))
    except (ModelLoadError, ValueError, OSError) as e:
        return show_model(), error_line(e) + "  \nThe previously loaded model is still in use."
    return model_card(lm.info()), f"✅ Loaded {lm.name} in {lm.load_seconds:.1f} s."


# ---------------------------------------------------------------- data
@guarded()
def set_status(forget: str, retain: str, holdout: str, user_sets: ws.UserSets) -> str:
    lm = STORE.current()
    taught = lm.taught if lm else None
    lines = []
    for role, name in zip(ws.ROLES, (forget, retain, holdout), strict=True):
        if not name or name == NONE:
            lines.append(f"**{role.capitalize()}**: none")
            continue
        try:
            ds = ws.resolve(name, user_sets)
        except DataError as e:
            lines.append(f"**{role.capitalize()}**: {error_line(e)}")
            continue
        note, warn = ws.knowledge_status(role, ds, taught)
        lines.append(knowledge_line(role, name, len(ds), note, warn))
    return "  \n".join(lines)


@guarded(message=None)
def holdout_for(forget: str | None, holdout: str | None, user_sets: ws.UserSets) -> Any:
    """When the forget set changes to one with a holdout split of its own and the holdout picked is from
    another source, pick that split: only a holdout of the same source measures membership (holdout.py)."""
    own = own_holdout(forget or "", ws.choices(user_sets))
    if own is None or (holdout and holdout != NONE and same_source(forget or "", holdout)):
        return gr.skip()
    return gr.update(value=own)


HOLDOUT_WHY = (
    "The holdout must come from the same source as the forget set: membership inference compares the two, and "
    "against items of another topic the attacks tell the topics apart, not trained items from unseen ones."
)


@guarded(5, 4)
def split_holdout_ui(forget: str, share: float, user_sets: ws.UserSets):
    """Split the forget set into `name:forget` and a seeded `name:holdout`, and pick both."""
    try:
        ds = ws.resolve(forget, user_sets)
        rest, held = ws.split_holdout(ds, number(share, "holdout share"))
        user_sets, rest_name = ws.add_set(user_sets, rest)
        user_sets, held_name = ws.add_set(user_sets, held)
    except (DataError, ValueError) as e:
        return (user_sets, *picker_updates(user_sets), error_line(e))
    msg = (
        f"✅ Split **{forget}** (seed {ws.HOLDOUT_SEED}) into **{rest_name}** ({len(rest)} items, now the forget "
        f"set) and **{held_name}** ({len(held)} items, now the holdout, never trained on)."
    )
    if ds.knowledge == "taught":
        msg += (
            "  \n⚠️ If the model was taught the whole set, the new holdout was trained on: reload the model and "
            "teach it the new forget and retain sets."
        )
    return (user_sets, *picker_updates(user_sets, forget=rest_name, holdout=held_name), msg)


def _recorded_plot(ds: DataSet, title: str):
    """The knowledge chart from checks recorded in the set itself (built-in sets carry one)."""
    items = [e for e in ds.examples if "answer_prob" in e.meta and "known" in e.meta]
    if not items or len(items) != len(ds.examples):
        return None
    return knowledge_bars(
        [e.question for e in items], [e.meta["answer_prob"] for e in items], [e.meta["known"] for e in items], title
    )


def _role_error(which: str) -> str:
    return f"❌ Unknown set role {which!r}: choose one of {', '.join(ws.ROLES)}."


@guarded(3, 1)
def preview(which: str, forget: str, retain: str, holdout: str, user_sets: ws.UserSets) -> tuple[Any, str, Any]:
    if which not in ws.ROLES:
        return gr.update(value=[], headers=ws.TABLE_HEADERS), _role_error(which), None
    name = {"forget": forget, "retain": retain, "holdout": holdout}[which]
    if not name or name == NONE:
        return gr.update(value=[], headers=ws.TABLE_HEADERS), f"No {which} set selected.", None
    try:
        ds = ws.resolve(name, user_sets)
    except DataError as e:
        return gr.update(value=[], headers=ws.TABLE_HEADERS), error_line(e), None
    note = KNOWLEDGE_NOTES.get(ds.knowledge, ds.knowledge)
    caption = f"**{name}**: {len(ds)} items, {note}. {ds.description}"
    if len(ds) > ws.TABLE_LIMIT:  # a browser table of 100,000 rows would freeze the page
        caption += f"  \n⚠️ The table shows the first {ws.TABLE_LIMIT:,} items; saving edits keeps the others."
    checked_with = next((e.meta.get("checked_with") for e in ds.examples if e.meta.get("checked_with")), None)
    if checked_with:
        caption += (
            f"  \nThe *known* and *P(answer)* columns were recorded with {checked_with}; press *Check* to re-run."
        )
    plot = _recorded_plot(ds, f"{name}, recorded with {checked_with}")
    return gr.update(value=ws.table(ds), headers=ws.TABLE_HEADERS), caption, plot


@guarded(5, 4)
def save_edits(which: str, rows: Any, forget: str, retain: str, holdout: str, user_sets: ws.UserSets):
    picks = {"forget": forget, "retain": retain, "holdout": holdout}
    if which not in picks:
        return (user_sets, *picker_updates(user_sets), _role_error(which))
    try:
        ds = ws.resolve(picks[which], user_sets)
        data = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
        edited = ws.apply_edits(ds, data)
        if edited.name in user_sets:  # editing the session's own edited copy again: replace it
            user_sets, name = {**user_sets, edited.name: ws.to_state(edited)}, edited.name
        else:
            user_sets, name = ws.add_set(user_sets, edited)
    except DataError as e:
        return (user_sets, *picker_updates(user_sets), error_line(e))
    picks[which] = name
    msg = f"✅ Saved as **{name}** ({len(edited)} items) and selected as the {which} set."
    warning = control_char_warning(edited.examples)
    msg += f"  \n{warning}" if warning else ""
    return (user_sets, *picker_updates(user_sets, **picks), msg)


@guarded(3, 2)
def check_knowledge_ui(
    which: str, forget: str, retain: str, holdout: str, user_sets: ws.UserSets, progress=gr.Progress()
):
    if which not in ws.ROLES:
        return gr.update(), None, _role_error(which)
    name = {"forget": forget, "retain": retain, "holdout": holdout}[which]
    try:
        lm = STORE.require()
        ds = ws.resolve(name, user_sets)
    except (DataError, RuntimeError) as e:
        return gr.update(), None, error_line(e)
    qa = [e for e in ds.examples if e.is_qa]
    if not qa:
        return gr.update(), None, "❌ This set holds plain passages, not questions: there is nothing to ask."
    progress(0.0, desc=f"Asking {lm.name} {len(qa)} questions…")
    try:
        with STORE.lock:
            checks = check_examples(lm, qa, progress=lambda f, m: progress(f, desc=m))
    except DataError as e:  # an item over the length limit: refused before the model sees it
        return gr.update(), None, error_line(e)
    checked = with_checks(qa, checks, lm.name)
    checked_ds = DataSet(ds.name, ds.title, ds.knowledge, ds.description, checked)
    fig = knowledge_bars(
        [e.question for e in checked],
        [e.meta["answer_prob"] for e in checked],
        [e.meta["known"] for e in checked],
        f"{name} on {lm.name}",
    )
    n = sum(e.meta["known"] for e in checked)
    derived = sum(not e.keywords for e in qa)
    msg = (
        f"The loaded model answers **{n} of {len(checked)}** correctly (a keyword of the answer in its greedy "
        "reply; the keyword it matched is in bold in the last column)."
    )
    if derived:
        msg += (
            f"  \n{derived} items have no keywords of their own: they were checked against the answer's names, "
            "numbers and capitalised words that the question does not contain. Type keywords in the table "
            "(separated by |) and save to check against your own."
        )
    return gr.update(value=ws.table(checked_ds), headers=ws.TABLE_HEADERS), fig, msg


# ---------------------------------------------------------------- teach and ask
@guarded(2, 1)
def teach_ui(
    forget: str,
    retain: str,
    epochs: float,
    user_sets,
    progress=gr.Progress(),  # noqa: B008
    request: gr.Request | None = None,
    *,
    server: Server,
):
    try:
        server.access.check_operator(user_of(request), "teach the model")
        sets = [ws.resolve(n, user_sets) for n in (forget, retain) if n and n != NONE]
    except ValueError as e:  # DataError, AccessDenied
        return show_model(), error_line(e)
    examples = [e for ds in sets for e in ds.examples if e.is_qa or e.answer]
    if not examples:
        return show_model(), "❌ Select a forget (and retain) set to teach first."
    label = " + ".join(ds.name for ds in sets)
    try:
        cfg = TeachConfig(epochs=number(epochs, "epochs"))
        lm = STORE.transform(lambda cur: teach(cur, examples, label, cfg, progress=lambda f, m: progress(f, desc=m)))
    except (RuntimeError, ValueError, FloatingPointError, InterruptedError) as e:
        return show_model(), error_line(e)
    info = lm.taught
    how = (
        f"taught in {info['seconds']} s (final loss {info['final_loss']:.3f})"
        if "seconds" in info
        else "from the cache"
    )
    return model_card(lm.info()), f"✅ The model now knows {label}: {len(examples)} items, {how}."


@guarded()
def ask_ui(question: str, max_new_tokens: float) -> Iterator[str]:
    """The model's greedy answer, shown token by token as it is written (the last value is the answer)."""
    if not (question or "").strip():
        yield "❌ Type a question first."
        return
    try:
        lm = STORE.require()
        n = new_tokens(max_new_tokens)
    except (RuntimeError, ValueError) as e:
        yield error_line(e)
        return
    too_long = length_problem(question.strip(), lm.tokenizer)
    if too_long:  # never tokenized whole, never sent to the model
        yield f"❌ The question is {too_long}: shorten it."
        return

    def work(emit: Emit) -> str:
        with STORE.lock:  # held by the worker thread for the whole generation
            streamer = TextStreamer(lm.tokenizer, lambda texts: emit(texts[0], partial=True))
            return generate_answers(lm.model, lm.tokenizer, [question.strip()], n, streamer=streamer)[0]

    with closing(in_thread(work)) as events:
        for what, text in events:
            if what == "partial":
                yield text
    yield text or "(the model answered with no text: only special or blank tokens)"
