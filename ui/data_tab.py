"""Model & data tab: load a model, pick / preview / edit / upload / fetch sets, check knowledge, teach, ask."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from ui import common
from ui.common import NONE, PLACEHOLDERS, SOURCES, error_line, new_tokens, number, user_of
from unlearn import workspace as ws
from unlearn.builtin import KNOWLEDGE_NOTES, DataSet
from unlearn.formats import DataError, read_records
from unlearn.holdout import own_holdout, same_source
from unlearn.hub_data import PRESETS, load_hub_examples
from unlearn.knowledge import check_examples, with_checks
from unlearn.models import BUNDLED, ModelLoadError
from unlearn.schemas import ColumnMapping, columns, detect_schema, load_upload
from unlearn.scoring import generate_answers
from unlearn.store import STORE
from unlearn.teach import TeachConfig, teach
from viz.cards import knowledge_line, model_card
from viz.sets import knowledge_bars


# ---------------------------------------------------------------- model
def show_model() -> str:
    lm = STORE.current()
    return model_card(lm.info() if lm else None)


def on_source_change(source: str) -> dict:
    kind = SOURCES[source]
    return gr.update(visible=kind != "bundled", placeholder=PLACEHOLDERS[kind], value="")


def load_model_ui(
    source: str, ref: str, device: str, trust: bool, progress=gr.Progress(), request: gr.Request | None = None
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
        common.ACCESS.check_operator(user_of(request), "load a model")
        common.ACCESS.check_model(ref, bool(trust))
        lm = STORE.load(ref, device=device, trust_remote_code=trust, progress=lambda f, m: progress(f, desc=m))
    except (ModelLoadError, ValueError, OSError) as e:
        return show_model(), error_line(e) + "  \nThe previously loaded model is still in use."
    return model_card(lm.info()), f"✅ Loaded {lm.name} in {lm.load_seconds:.1f} s."


# ---------------------------------------------------------------- data
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


def holdout_for(forget: str | None, holdout: str | None, user_sets: ws.UserSets) -> Any:
    """When the forget set changes to one with a holdout split of its own and the holdout picked is from
    another source, pick that split: only a holdout of the same source measures membership (holdout.py)."""
    own = own_holdout(forget or "", ws.choices(user_sets))
    if own is None or (holdout and holdout != NONE and same_source(forget or "", holdout)):
        return gr.skip()
    return gr.update(value=own)


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


def _picker_updates(user_sets: ws.UserSets, **values: str) -> list[dict]:
    opts = ws.choices(user_sets)
    return [
        gr.update(
            choices=opts + ([NONE] if role == "holdout" else []), **({"value": values[role]} if role in values else {})
        )
        for role in ws.ROLES
    ]


def save_edits(which: str, rows: Any, forget: str, retain: str, holdout: str, user_sets: ws.UserSets):
    picks = {"forget": forget, "retain": retain, "holdout": holdout}
    if which not in picks:
        return (user_sets, *_picker_updates(user_sets), _role_error(which))
    try:
        ds = ws.resolve(picks[which], user_sets)
        data = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
        edited = ws.apply_edits(ds, data)
        if edited.name in user_sets:  # editing the session's own edited copy again: replace it
            user_sets, name = {**user_sets, edited.name: ws.to_state(edited)}, edited.name
        else:
            user_sets, name = ws.add_set(user_sets, edited)
    except DataError as e:
        return (user_sets, *_picker_updates(user_sets), error_line(e))
    picks[which] = name
    msg = f"✅ Saved as **{name}** ({len(edited)} items) and selected as the {which} set."
    return (user_sets, *_picker_updates(user_sets, **picks), msg)


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
    progress(0.1, desc=f"Asking {lm.name} {len(qa)} questions…")
    with STORE.lock:
        checked = with_checks(qa, check_examples(lm, qa), lm.name)
    checked_ds = DataSet(ds.name, ds.title, ds.knowledge, ds.description, checked)
    fig = knowledge_bars(
        [e.question for e in checked],
        [e.meta["answer_prob"] for e in checked],
        [e.meta["known"] for e in checked],
        f"{name} on {lm.name}",
    )
    n = sum(e.meta["known"] for e in checked)
    msg = f"The loaded model answers **{n} of {len(checked)}** correctly (a keyword of the answer in its greedy reply)."
    return gr.update(value=ws.table(checked_ds), headers=ws.TABLE_HEADERS), fig, msg


# ---------------------------------------------------------------- uploads and hub
def inspect_upload(path: str | None, text_mode: str) -> tuple[dict, dict, dict, str]:
    """After a file is chosen: detect its schema and offer its columns for manual mapping."""
    empty = gr.update(choices=[], value=None)
    if not path:
        return empty, empty, empty, ""
    try:
        records = read_records(Path(path).read_bytes(), Path(path).name, text_mode=text_mode)
    except (DataError, OSError) as e:
        return empty, empty, empty, error_line(e)
    cols = [NONE] + columns(records)
    try:
        schema, m = detect_schema(records)
        msg = f"Recognised **{schema}** layout ({len(records)} records). Press *Add set*, or map columns by hand."
    except DataError as e:
        m, msg = ColumnMapping(), f"⚠️ {e}"
    return (
        gr.update(choices=cols, value=m.question or NONE),
        gr.update(choices=cols, value=m.answer or NONE),
        gr.update(choices=cols, value=m.text or NONE),
        msg,
    )


def add_upload(path: str | None, text_mode: str, name: str, q_col: str, a_col: str, t_col: str, user_sets, which: str):
    if not path:
        return (user_sets, *_picker_updates(user_sets), "❌ Choose a file first.")
    filename = Path(path).name
    try:
        data = Path(path).read_bytes()
        records = read_records(data, filename, text_mode=text_mode)
    except (DataError, OSError) as e:
        return (user_sets, *_picker_updates(user_sets), error_line(e))
    try:
        _, auto = detect_schema(records)
    except DataError:
        auto = ColumnMapping()
    chosen = {k: (v if v and v != NONE else None) for k, v in dict(question=q_col, answer=a_col, text=t_col).items()}
    same_as_auto = all(getattr(auto, k) == v for k, v in chosen.items())
    mapping = None if same_as_auto else ColumnMapping(**chosen)
    if mapping is not None and not (mapping.text or (mapping.question and mapping.answer)):
        msg = "❌ Map a question and an answer column, or a text column for plain passages."
        return (user_sets, *_picker_updates(user_sets), msg)
    try:
        schema, examples = load_upload(data, filename, mapping, text_mode)
    except DataError as e:
        return (user_sets, *_picker_updates(user_sets), error_line(e))
    ds = DataSet(
        (name or Path(filename).stem).strip(), filename, "uploaded", f"Uploaded from {filename} ({schema}).", examples
    )
    user_sets, set_name = ws.add_set(user_sets, ds)
    picks = {which: set_name}
    msg = f"✅ Added **{set_name}**: {len(examples)} items ({schema} layout), selected as the {which} set."
    return (user_sets, *_picker_updates(user_sets, **picks), msg)


def on_preset(preset: str) -> tuple[str, dict, str]:
    p = PRESETS[preset]
    return p.repo_id, gr.update(choices=p.configs, value=p.default_config), p.splits_for(p.default_config)[0]


def load_hub_ui(repo: str, config: str, split: str, limit: float, user_sets, which: str, progress=gr.Progress()):
    repo, split = (repo or "").strip(), (split or "").strip() or "train"
    progress(0.1, desc=f"Loading {repo} from the hub…")
    try:
        common.ACCESS.check_dataset(repo)
        n = number(limit or 500, "rows to load", int)
        if n < 1:
            raise ValueError(f"rows to load must be 1 or more, got {n}")
        schema, examples = load_hub_examples(repo, config or None, split, n)
    except (DataError, ValueError) as e:  # AccessDenied is a ValueError
        return (user_sets, *_picker_updates(user_sets), error_line(e))
    label = f"{repo.split('/')[-1]}:{config or ''}:{split}"
    ds = DataSet(label, repo, "hub", f"{repo} config {config} split {split} ({schema}).", examples)
    user_sets, set_name = ws.add_set(user_sets, ds)
    msg = f"✅ Added **{set_name}**: {len(examples)} items, selected as the {which} set."
    return (user_sets, *_picker_updates(user_sets, **{which: set_name}), msg)


# ---------------------------------------------------------------- teach and ask
def teach_ui(
    forget: str, retain: str, epochs: float, user_sets, progress=gr.Progress(), request: gr.Request | None = None
):
    try:
        common.ACCESS.check_operator(user_of(request), "teach the model")
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


def ask_ui(question: str, max_new_tokens: float) -> str:
    if not (question or "").strip():
        return "❌ Type a question first."
    try:
        lm = STORE.require()
        n = new_tokens(max_new_tokens)
    except (RuntimeError, ValueError) as e:
        return error_line(e)
    with STORE.lock:
        text = generate_answers(lm.model, lm.tokenizer, [question.strip()], n)[0]
    return text or "(the model answered with no text: only special or blank tokens)"
