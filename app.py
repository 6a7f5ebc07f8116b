"""Unlearning Inspector: the Gradio app. Layout and wiring only; the work happens in `unlearn/`
(models, data, training) and `viz/` (figures and cards).

    python app.py [--model bundled] [--port 7860] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import gradio as gr

from unlearn import workspace as ws
from unlearn.access import AccessDenied, AccessPolicy, parse_auth
from unlearn.attribution import METHODS as ATTRIBUTION_METHODS
from unlearn.attribution import attribute
from unlearn.audit import AuditConfig
from unlearn.audit_record import load_audit
from unlearn.builtin import KNOWLEDGE_NOTES, DataSet
from unlearn.compare import MAX_TOKENS, Comparison, Decoding, SessionResults, compare
from unlearn.devices import DEVICE_CHOICES
from unlearn.engine import DEMO_STEPS, RunSpec
from unlearn.examples import Example
from unlearn.formats import DataError, read_records
from unlearn.hub_data import PRESETS, load_hub_examples
from unlearn.jobs import Cancelled, Job, audit_job, unlearn_job
from unlearn.knowledge import check_examples, with_checks
from unlearn.loop import LoopConfig
from unlearn.methods import METHODS, config_for, describe
from unlearn.models import BUNDLED, ModelLoadError, load_model
from unlearn.relearn import RelearnConfig
from unlearn.remind import RemindConfig
from unlearn.runs import PENDING, apply_run, delete_run, list_runs, read_history
from unlearn.runs_overview import overview
from unlearn.schemas import ColumnMapping, columns, detect_schema, load_upload
from unlearn.scoring import generate_answers
from unlearn.store import STORE, ActiveRun
from unlearn.teach import TeachConfig, teach
from viz import audit_report, panels
from viz.attribution import attribution_bars
from viz.cards import before_after_table, knowledge_line, method_card, model_card
from viz.curves import run_curves
from viz.export import figures_html, figures_json
from viz.runs import RUNS_HEADERS, run_report_html, runs_rows, runs_scatter
from viz.sets import knowledge_bars
from viz.tokens import word_diff

ASSETS = Path(__file__).resolve().parent / "assets"
MODEL_QUEUE = "model"  # one queue for everything that touches the shared model
SOURCES = {
    "Bundled SmolLM2-135M-Instruct": "bundled",
    "Hugging Face hub id": "hub",
    "Local folder (save_pretrained)": "local",
    ".gguf file": "gguf",
}
PLACEHOLDERS = {
    "bundled": "",
    "hub": "e.g. HuggingFaceTB/SmolLM2-135M-Instruct",
    "local": "/path/to/folder with config.json and *.safetensors",
    "gguf": "/path/to/model.gguf",
}
NONE = "(none)"
ACCESS = AccessPolicy()  # replaced by main() from the command line (--public, --allow-model, ...)


def _error(e: Exception) -> str:
    return f"❌ {e}"


# ---------------------------------------------------------------- model
def show_model() -> str:
    lm = STORE.current()
    return model_card(lm.info() if lm else None)


def on_source_change(source: str) -> dict:
    kind = SOURCES[source]
    return gr.update(visible=kind != "bundled", placeholder=PLACEHOLDERS[kind], value="")


def load_model_ui(source: str, ref: str, device: str, trust: bool, progress=gr.Progress()) -> tuple[str, str]:
    kind = SOURCES.get(source, "bundled")
    ref = BUNDLED if kind == "bundled" else (ref or "").strip()
    if not ref:
        return show_model(), "❌ Type a hub id, a folder or a .gguf path first."
    if kind == "gguf" and not ref.lower().endswith(".gguf"):
        return show_model(), f"❌ {ref} does not end in .gguf: pick the right source or fix the path."
    try:
        ACCESS.check_model(ref, bool(trust))
        lm = STORE.load(ref, device=device, trust_remote_code=trust, progress=lambda f, m: progress(f, desc=m))
    except (ModelLoadError, ValueError, OSError) as e:
        return show_model(), _error(e) + "  \nThe previously loaded model is still in use."
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
            lines.append(f"**{role.capitalize()}**: {_error(e)}")
            continue
        note, warn = ws.knowledge_status(role, ds, taught)
        lines.append(knowledge_line(role, name, len(ds), note, warn))
    return "  \n".join(lines)


def _recorded_plot(ds: DataSet, title: str):
    """The knowledge chart from checks recorded in the set itself (built-in sets carry one)."""
    items = [e for e in ds.examples if "answer_prob" in e.meta and "known" in e.meta]
    if not items or len(items) != len(ds.examples):
        return None
    return knowledge_bars(
        [e.question for e in items], [e.meta["answer_prob"] for e in items], [e.meta["known"] for e in items], title
    )


def preview(which: str, forget: str, retain: str, holdout: str, user_sets: ws.UserSets) -> tuple[Any, str, Any]:
    name = {"forget": forget, "retain": retain, "holdout": holdout}[which]
    if not name or name == NONE:
        return gr.update(value=[], headers=ws.TABLE_HEADERS), f"No {which} set selected.", None
    try:
        ds = ws.resolve(name, user_sets)
    except DataError as e:
        return gr.update(value=[], headers=ws.TABLE_HEADERS), _error(e), None
    note = KNOWLEDGE_NOTES.get(ds.knowledge, ds.knowledge)
    caption = f"**{name}**: {len(ds)} items, {note}. {ds.description}"
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
    try:
        ds = ws.resolve(picks[which], user_sets)
        data = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
        edited = ws.apply_edits(ds, data)
        if edited.name in user_sets:  # editing the session's own edited copy again: replace it
            user_sets, name = {**user_sets, edited.name: ws.to_state(edited)}, edited.name
        else:
            user_sets, name = ws.add_set(user_sets, edited)
    except DataError as e:
        return (user_sets, *_picker_updates(user_sets), _error(e))
    picks[which] = name
    msg = f"✅ Saved as **{name}** ({len(edited)} items) and selected as the {which} set."
    return (user_sets, *_picker_updates(user_sets, **picks), msg)


def check_knowledge_ui(
    which: str, forget: str, retain: str, holdout: str, user_sets: ws.UserSets, progress=gr.Progress()
):
    name = {"forget": forget, "retain": retain, "holdout": holdout}[which]
    try:
        lm = STORE.require()
        ds = ws.resolve(name, user_sets)
    except (DataError, RuntimeError) as e:
        return gr.update(), None, _error(e)
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
        return empty, empty, empty, _error(e)
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
        return (user_sets, *_picker_updates(user_sets), _error(e))
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
        return (user_sets, *_picker_updates(user_sets), _error(e))
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
    progress(0.1, desc=f"Loading {repo} from the hub…")
    try:
        schema, examples = load_hub_examples(repo.strip(), config or None, split.strip() or "train", int(limit or 500))
    except DataError as e:
        return (user_sets, *_picker_updates(user_sets), _error(e))
    label = f"{repo.split('/')[-1]}:{config or ''}:{split}"
    ds = DataSet(label, repo, "hub", f"{repo} config {config} split {split} ({schema}).", examples)
    user_sets, set_name = ws.add_set(user_sets, ds)
    msg = f"✅ Added **{set_name}**: {len(examples)} items, selected as the {which} set."
    return (user_sets, *_picker_updates(user_sets, **{which: set_name}), msg)


# ---------------------------------------------------------------- teach and ask
def teach_ui(forget: str, retain: str, epochs: float, user_sets, progress=gr.Progress()):
    try:
        sets = [ws.resolve(n, user_sets) for n in (forget, retain) if n and n != NONE]
    except DataError as e:
        return show_model(), _error(e)
    examples = [e for ds in sets for e in ds.examples if e.is_qa or e.answer]
    if not examples:
        return show_model(), "❌ Select a forget (and retain) set to teach first."
    label = " + ".join(ds.name for ds in sets)
    cfg = TeachConfig(epochs=float(epochs))
    try:
        lm = STORE.transform(lambda cur: teach(cur, examples, label, cfg, progress=lambda f, m: progress(f, desc=m)))
    except (RuntimeError, ValueError, FloatingPointError, InterruptedError) as e:
        return show_model(), _error(e)
    info = lm.taught
    how = (
        f"taught in {info['seconds']} s (final loss {info['final_loss']:.3f})"
        if "seconds" in info
        else "from the cache"
    )
    return model_card(lm.info()), f"✅ The model now knows {label}: {len(examples)} items, {how}."


def ask_ui(question: str, max_new_tokens: float) -> str:
    if not (question or "").strip():
        return "Type a question first."
    try:
        lm = STORE.require()
    except RuntimeError as e:
        return _error(e)
    with STORE.lock:
        text = generate_answers(lm.model, lm.tokenizer, [question.strip()], int(max_new_tokens))[0]
    return text or "(the model answered with no text: only special or blank tokens)"


# ---------------------------------------------------------------- unlearn
JOBS: dict[str, Job] = {}  # session hash -> its running job, so Cancel stops the right run
PRESET_LABELS = {"Quick demo (bundled model, CPU)": "quick", "Paper defaults": "paper"}
MODE_LABELS = {"LoRA adapters": "lora", "Full parameters": "full", "Method's own subset": "subset"}


def method_choices() -> list[tuple[str, str]]:
    return [
        (f"{d['name']} ({d['id']})" + ("" if d["faithful"] else " · reconstruction"), d["id"])
        for d in map(describe, sorted(METHODS))
    ]


def on_method(method_id: str, preset_label: str) -> tuple[str, list[list[Any]], float]:
    """Card, hyperparameter table and learning rate for a method and a preset."""
    d = describe(method_id)
    preset = PRESET_LABELS.get(preset_label, "quick")
    rows = [
        [h["name"], h["quick"] if preset == "quick" else h["paper"], h["quick"], h["paper"], h["help"]]
        for h in d["hyperparameters"]
    ]
    return method_card(d, with_table=False), rows, d["lr"] if preset == "quick" else d["paper_lr"]


def _hparams(method_id: str, rows: Any) -> dict[str, Any]:
    """The edited hyperparameter table back to typed values (numbers stay numbers)."""
    data = rows.values.tolist() if hasattr(rows, "values") else list(rows or [])
    defaults = config_for(method_id)
    out: dict[str, Any] = {}
    for row in data:
        if not row or not row[0]:
            continue
        name, value = str(row[0]), row[1]
        kind = type(getattr(defaults, name, ""))
        try:
            out[name] = kind(value) if kind in (int, float, str) and not isinstance(value, kind) else value
        except (TypeError, ValueError):
            raise ValueError(f"hyperparameter {name}: {value!r} is not a valid {kind.__name__}") from None
        if isinstance(out[name], float) and not math.isfinite(out[name]):
            raise ValueError(f"hyperparameter {name} must be a finite number, got {value!r}")
    return out


def run_ui(
    method_id,
    preset_label,
    mode_label,
    hp_rows,
    steps,
    lr,
    batch_size,
    grad_accum,
    max_length,
    warmup,
    seed,
    lora_r,
    low_memory,
    gu_k,
    coreset_share,
    coreset_mode,
    melu,
    forget,
    retain,
    user_sets,
    request: gr.Request,
):
    """Generator: start the run in a worker thread, then redraw the curves after every step."""
    no_table = gr.skip()
    try:
        STORE.require()
        fset = ws.resolve(forget, user_sets)
        rset = ws.resolve(retain, user_sets) if retain and retain != NONE else None
        loop = LoopConfig(
            lr=float(lr),
            steps=int(steps),
            batch_size=int(batch_size),
            grad_accum=int(grad_accum),
            max_length=int(max_length),
            warmup=int(warmup),
            seed=int(seed),
        )
        loop.validate()
        spec = RunSpec(
            method_id,
            PRESET_LABELS.get(preset_label, "quick"),
            _hparams(method_id, hp_rows),
            MODE_LABELS.get(mode_label, "lora"),
            int(lora_r),
            loop,
            low_memory=bool(low_memory),
            project_retain=int(gu_k or 0),
            coreset=float(coreset_share),
            coreset_mode=str(coreset_mode),
            melu=bool(melu),
        )
        config_for(spec.method, spec.preset, **spec.hparams)
    except (DataError, RuntimeError, ValueError, TypeError) as e:
        yield _error(e), None, no_table
        return
    train, held = ws.split_retain(rset.examples) if rset else ([], [])
    work = unlearn_job(STORE, spec, [e for e in fset.examples], train, held, {"forget": forget, "retain": retain or ""})
    job = JOBS[request.session_hash] = Job(work)
    history: list[dict[str, Any]] = []
    title = f"{describe(method_id)['name']} on {forget}"
    try:
        yield f"⏳ Measuring the model before {describe(method_id)['name']}…", None, no_table
        for ev in job.events():
            if ev.kind == "step":
                s = ev.payload
                history.append({"step": s.step, **s.logs})
                msg = f"⏳ Step {s.step} / {s.total} · {s.seconds:.0f} s"
                if "forget_prob" in s.logs:
                    msg += f" · forget P̃ {s.logs['forget_prob']:.4f} · retain P̃ {s.logs['retain_prob']:.4f}"
                yield msg, run_curves(history, title, s.total), no_table
            elif ev.kind == "error":
                yield (
                    _error(ev.payload) + "  \nThe model is as it was before this run.",
                    run_curves(history, title),
                    no_table,
                )
            else:
                out, run_dir = ev.payload
                m = out.metrics
                state = "cancelled after" if out.cancelled else "finished in"
                msg = (
                    f"{'⚠️' if out.cancelled else '✅'} {state} {len(out.history)} steps, {out.seconds:.0f} s. "
                    f"The model is now *after* this run (saved as `{Path(run_dir).name}`); *before* is one click away."
                )
                table = before_after_table(
                    [
                        ("forget: " + forget, m["forget_prob_before"], m["forget_prob_after"]),
                        ("retain, held out: " + (retain or "none"), m["retain_prob_before"], m["retain_prob_after"]),
                    ]
                )
                yield msg, run_curves(out.history, title), table
    finally:
        job.cancel()  # a page that went away, or Cancel, stops the run at the next step
        JOBS.pop(request.session_hash, None)


def cancel_ui(request: gr.Request) -> str:
    job = JOBS.get(request.session_hash)
    if job is None:
        return "Nothing is running."
    job.cancel()
    return "⏹ Cancelling at the end of the current step; the steps done so far are kept and saved as a cancelled run."


def ask_both_ui(question: str, max_new_tokens: float) -> tuple[str, str]:
    if not (question or "").strip():
        return "Type a question first.", ""
    try:
        with STORE.before() as lm:
            before = generate_answers(lm.model, lm.tokenizer, [question.strip()], int(max_new_tokens))[0]
        lm = STORE.require()
        with STORE.lock:
            after = generate_answers(lm.model, lm.tokenizer, [question.strip()], int(max_new_tokens))[0]
    except RuntimeError as e:
        return _error(e), ""
    if STORE.active_run() is None:
        after = "(no unlearning run yet: after = before)  " + after
    return before or "(no text)", after or "(no text)"


def unlearn_sets_line(forget: str, retain: str) -> str:
    return (
        f"Forget **{forget}**, retain **{retain or 'none'}** (picked in *Model & data*; the retain set's "
        "`eval` part, or every other item, is only measured, never trained on)."
    )


def run_choices() -> list[tuple[str, str]]:
    out = []
    for r in list_runs():
        m = r.get("metrics", {})
        fb, fa = m.get("forget_prob_before"), m.get("forget_prob_after")
        figures = f", forget {fb:.3f}→{fa:.3f}" if fb is not None and fa is not None else ""
        out.append((f"{r['id']} · {r.get('status', '?')}{figures}", r["dir"]))
    return out


def refresh_runs() -> dict:
    return gr.update(choices=run_choices(), value=None)


def _require_saved(run_dir: str) -> None:
    if str(run_dir).endswith(PENDING):
        raise ValueError(
            f"{Path(run_dir).name.removesuffix(PENDING)} was interrupted (the app stopped during the run): nothing "
            "was saved, so there is nothing to load or export. Delete it from the list."
        )


def _activate(run_dir: str) -> dict[str, Any]:
    """Put a saved run's weights on the shared model (its *after*), unless it is already active."""
    ACCESS.check_run(run_dir)
    _require_saved(run_dir)
    lm = STORE.require()
    record = json.loads((Path(run_dir) / "run.json").read_text())
    if record["model"]["ref"] != lm.source.ref:
        raise ValueError(f"This run was made on {record['model']['name']}; load that model first (Model & data).")
    with STORE.lock:
        active = STORE.active_run()
        if active is None or Path(active.run_dir) != Path(run_dir):
            STORE.clear_run()
            tr = apply_run(lm, Path(run_dir))
            STORE.set_run(ActiveRun(run_dir, record, tr))
    return record


def load_run_ui(run_dir: str | None) -> str:
    """Put a saved run's weights on the loaded model: after a restart the "after" model comes back."""
    if not run_dir:
        return "❌ Pick a saved run first."
    try:
        record = _activate(run_dir)
    except (OSError, ValueError, KeyError, RuntimeError) as e:
        return _error(e)
    return f"✅ Loaded run `{record['id']}` ({record['method']}, {record['status']}): the model is now its *after*."


def delete_run_ui(run_dir: str | None) -> tuple[str, dict]:
    if not run_dir:
        return "❌ Pick a saved run first.", gr.update()
    active = STORE.active_run()
    if active is not None and Path(active.run_dir) == Path(run_dir):
        STORE.clear_run()
    try:
        delete_run(Path(run_dir))
    except ValueError as e:
        return _error(e), refresh_runs()
    return f"🗑 Deleted {Path(run_dir).name}.", refresh_runs()


def reset_ui() -> str:
    STORE.clear_run()
    return "The model is back to before any run (saved runs stay on disk)."


# ---------------------------------------------------------------- compare
ACTIVE, AGAINST_ITSELF = "__active__", "__self__"
PROMPT_KINDS = ["Forget item", "Retain item", "Free text"]
RESULTS = SessionResults()  # each session's last comparison (its arrays), bounded (--kept-results)
N_PANEL_OUTPUTS = 13  # what compare_ui returns after the note


def compare_sources() -> list[tuple[str, str]]:
    active = STORE.active_run()
    now = f"The run on the model now: {active.record['id']}" if active else "The model now (no run yet: after = before)"
    return [(now, ACTIVE), ("The model as loaded, against itself", AGAINST_ITSELF)] + run_choices()


def refresh_sources() -> dict:
    return gr.update(choices=compare_sources(), value=ACTIVE)


def compare_items(kind: str, forget: str, retain: str, user_sets: ws.UserSets) -> tuple[dict, dict]:
    """The item picker for a forget / retain prompt, or the free-text box."""
    if kind == "Free text":
        return gr.update(visible=False), gr.update(visible=True)
    name = forget if kind == "Forget item" else retain
    try:
        ds = ws.resolve(name, user_sets) if name and name != NONE else None
    except DataError:
        ds = None
    items = [(f"{i + 1}. {(e.question or e.answer)[:100]}", str(i)) for i, e in enumerate(ds.examples if ds else [])]
    return gr.update(choices=items, value=items[0][1] if items else None, visible=True), gr.update(visible=False)


def _prompt(kind: str, item: str | None, text: str, forget: str, retain: str, user_sets: ws.UserSets) -> Example:
    if kind == "Free text":
        if not (text or "").strip():
            raise ValueError("Type a question in the free-text box first.")
        return Example(text.strip(), "")
    name = forget if kind == "Forget item" else retain
    if not name or name == NONE:
        raise ValueError(f"No {kind.split()[0].lower()} set is picked: choose one in Model & data.")
    ds = ws.resolve(name, user_sets)
    if item is None or not str(item).isdigit() or int(item) >= len(ds.examples):
        raise ValueError("Pick an item first.")
    return ds.examples[int(item)]


def _session_result(request: gr.Request) -> dict[str, Any]:
    got = RESULTS.get(request.session_hash)
    if got is None:
        raise ValueError("Press Compare first (results are kept for the most recent sessions only).")
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
    figs = {**got["figs"], **({"Attribution": got["attr_fig"]} if got.get("attr_fig") else {})}
    q = c.example.question or c.example.answer[:80]
    folder = Path(tempfile.gettempdir()) / "unlearning-inspector" / session
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "compare.html"
    path.write_text(figures_html(f"Before | after: {q}", figs, [_compare_note(c).replace("**", "")]), "utf-8")
    return str(path)


def compare_ui(
    source,
    kind,
    item,
    text,
    max_new,
    sample,
    temperature,
    seed,
    k_share,
    metric,
    forget,
    retain,
    user_sets,
    request: gr.Request,
):
    """Generate and probe with both models once; draw every panel from the kept arrays."""
    try:
        lm = STORE.require()
        ex = _prompt(kind, item, text, forget, retain, user_sets)
        dec = Decoding(int(max_new), bool(sample), float(temperature), seed=int(seed))
        run_dir = None
        with STORE.lock:
            if source == AGAINST_ITSELF:
                with STORE.before():
                    c = compare(lm.model, lm.tokenizer, nullcontext, ex, dec, False, "the model as loaded (no run)")
            else:
                if source and source != ACTIVE:
                    _activate(source)
                run = STORE.active_run()
                if run is None:
                    c = compare(lm.model, lm.tokenizer, nullcontext, ex, dec, False, "the model as loaded (no run yet)")
                else:
                    label = f"run `{run.record['id']}` ({run.record['method']})"
                    tr = run.trainable
                    c = compare(
                        lm.model, lm.tokenizer, tr.reference, ex, dec, True, label, side_by_side=tr.side_by_side
                    )
                    run_dir = run.run_dir
    except (DataError, RuntimeError, ValueError, OSError, KeyError) as e:
        return (_error(e), *[gr.skip()] * N_PANEL_OUTPUTS)
    figs = panels.all_figures(c, float(k_share), metric)
    got = {"c": c, "figs": figs, "source": source, "run_dir": run_dir}
    RESULTS.put(request.session_hash, got)
    n_answer = len(panels.answer_tokens(c))
    layer, head = panels.most_changed_head(c)
    n_layers, n_heads = c.before.probe.attentions.shape[:2]
    left, right = word_diff(c.before.generation or "(no text)", c.after.generation or "(no text)")
    return (
        _compare_note(c),
        left,
        right,
        figs["Token probabilities"],
        gr.update(maximum=max(n_answer - 1, 1), value=panels.biggest_drop(c)),
        figs["Top-k alternatives"],
        figs["Logit lens"],
        figs["Attention: change per head"],
        figs["Attention: every head"],
        gr.update(maximum=n_layers, value=layer),
        gr.update(maximum=n_heads - 1, value=head),
        figs["Attention: one head"],
        figs["Attention rollout"],
        _export(request.session_hash, got),
    )


def _redraw(request: gr.Request, name: str, draw) -> Any:
    """Redraw one panel from the session's kept arrays (no model call)."""
    try:
        got = _session_result(request)
    except ValueError as e:
        gr.Warning(str(e))
        return gr.skip()
    got["figs"][name] = fig = draw(got["c"])
    return fig


def tokens_ui(k_share: float, request: gr.Request):
    return _redraw(request, "Token probabilities", lambda c: panels.strips(c, float(k_share)))


def topk_ui(position: float, request: gr.Request):
    return _redraw(request, "Top-k alternatives", lambda c: panels.topk(c, int(position)))


def lens_ui(metric: str, request: gr.Request):
    return _redraw(request, "Logit lens", lambda c: panels.lens(c, metric))


def head_ui(layer: float, head: float, request: gr.Request):
    return _redraw(request, "Attention: one head", lambda c: panels.head(c, int(layer), int(head)))


def attribution_ui(method_label: str, request: gr.Request):
    """Captum attribution of the compared answer to the question tokens, before and after."""
    method = next((k for k, v in ATTRIBUTION_METHODS.items() if v == method_label), method_label)
    try:
        got = _session_result(request)
        c = got["c"]
        lm = STORE.require()
        with STORE.lock:
            run = STORE.active_run()
            if got["source"] != AGAINST_ITSELF and (run.run_dir if run else None) != got["run_dir"]:
                raise ValueError("The model's run changed since your comparison (another user?): press Compare again.")
            ctx = STORE.before if got["source"] == AGAINST_ITSELF else nullcontext
            with STORE.before():
                b = attribute(lm.model, lm.tokenizer, c.example, method, MAX_TOKENS)
            if c.has_run:
                with ctx():
                    a = attribute(lm.model, lm.tokenizer, c.example, method, MAX_TOKENS)
            else:  # one model on both sides: the same attribution
                a = b
    except (RuntimeError, ValueError) as e:
        return _error(e), gr.skip(), gr.skip()
    got["attr_fig"] = fig = attribution_bars(b.tokens, b.scores, a.scores, method)
    seconds = b.seconds + (a.seconds if a is not b else 0.0)
    note = f"{ATTRIBUTION_METHODS[method]}: {seconds:.1f} s for both models."
    return note, fig, _export(request.session_hash, got)


# ---------------------------------------------------------------- audit
AUDITS = SessionResults()  # each session's last audit record (plain JSON data, ~100 kB), bounded
N_AUDIT_VIEWS = 18  # what audit_ui returns after the status line
AUDIT_KEY = "{}:audit"  # the audit's Job in JOBS, beside the session's unlearning run


def forget_session(request: gr.Request) -> None:
    """A browser tab was closed: free what the server kept for it (its comparison arrays, its audit)."""
    RESULTS.drop(request.session_hash)
    AUDITS.drop(request.session_hash)


def audit_sources() -> list[tuple[str, str]]:
    return [c for c in compare_sources() if c[1] != AGAINST_ITSELF]  # an audit of the model alone is "no run"


def refresh_audit_sources() -> dict:
    return gr.update(choices=audit_sources(), value=ACTIVE)


def audit_config(items, neighbours, p, m, probes, relearn_on, surfaces) -> AuditConfig:
    """The tab's settings; the strength sweep runs from 0.1 up to p in steps of 0.1 (REMIND's features
    read the neighbourhood at p and the curvature at the first steps)."""
    if int(items) < 2:
        raise ValueError("Items per split: at least 2 items are needed (REMIND's classifier is cross-validated).")
    p = round(float(p), 1)
    strengths = tuple(round(0.1 * i, 1) for i in range(1, int(round(p * 10)) + 1))
    remind = RemindConfig(p=p, m=int(m), k=int(neighbours), strengths=strengths if len(strengths) > 1 else (0.1, 0.2))
    remind.check()
    return AuditConfig(
        remind=remind,
        max_items=int(items),
        probe_items=int(probes),
        relearn=RelearnConfig() if relearn_on else None,
        surface_items=int(surfaces),
    )


def _audit_files(session: str, rec: dict[str, Any], figs: dict[str, Any]) -> tuple[str, str]:
    """The report (one offline HTML file) and the JSON of every figure, in the session's folder."""
    folder = Path(tempfile.gettempdir()) / "unlearning-inspector" / session
    folder.mkdir(parents=True, exist_ok=True)
    name = rec.get("run", {}).get("id") or "model"
    html_path, json_path = folder / f"audit-{name}.html", folder / f"audit-{name}.figures.json"
    html_path.write_text(audit_report.report_html(rec, figs), "utf-8")
    json_path.write_text(figures_json(figs), "utf-8")
    return str(html_path), str(json_path)


def _audit_item_choices(rec: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (f"{sp} #{i + 1} · {label}", f"{sp}:{i}")
        for sp in audit_report.SPLIT_ORDER
        if sp in rec["splits"]
        for i, label in enumerate(rec["splits"][sp]["items"])
    ]


def _item_views(rec: dict[str, Any], key: str) -> tuple[Any, Any]:
    split, _, i = key.partition(":")
    land = audit_report.item_landscape(rec, split, int(i))
    surface = audit_report.item_surface(rec, int(i)) if split == "forget" else None
    return land, surface


def _audit_views(rec: dict[str, Any], session: str) -> tuple:
    figs = audit_report.audit_figures(rec)
    first = _audit_item_choices(rec)[0][1]
    land, surface = _item_views(rec, first)
    html_path, json_path = _audit_files(session, rec, figs)
    return (
        audit_report.headline(rec) + "  \n" + audit_report.forget_quality_line(rec),
        audit_report.auc_rows(rec),
        figs["Membership-inference AUCs"],
        figs["ROC curves after unlearning"],
        figs["ROC curves before unlearning"],
        figs["REMIND feature distributions"],
        figs["REMIND: the two leading features"],
        audit_report.verdict_rows(rec),
        gr.update(choices=_audit_item_choices(rec), value=first),
        land,
        surface,
        gr.update(value=audit_report.metric_rows(rec), headers=audit_report.metric_headers(rec)),
        figs["TOFU metrics"],
        figs.get("Adversarial probes"),
        figs["Honesty"],
        figs.get("Relearning attack"),
        html_path,
        json_path,
    )


def audit_ui(
    source,
    items,
    neighbours,
    p,
    m,
    probes,
    relearn_on,
    surfaces,
    retain_model,
    forget,
    retain,
    holdout,
    user_sets,
    request: gr.Request,
):
    """Generator: the audit runs in a worker thread; its stage and item are reported as it goes."""
    skip = [gr.skip()] * N_AUDIT_VIEWS
    try:
        STORE.require()
        if not holdout or holdout == NONE:
            raise ValueError(
                "Pick a holdout set in Model & data (items the model never trained on, e.g. "
                "fictitious_authors:holdout): membership inference compares the forget set against it."
            )
        sets = {"forget": ws.resolve(forget, user_sets).examples, "holdout": ws.resolve(holdout, user_sets).examples}
        if retain and retain != NONE:
            sets["retain"] = ws.resolve(retain, user_sets).examples
        cfg = audit_config(items, neighbours, p, m, probes, relearn_on, surfaces)
        if (retain_model or "").strip():
            ACCESS.check_model(retain_model.strip())
            rm = load_model(retain_model.strip(), device=str(STORE.require().device))
            cfg.retain_model = (rm.model, rm.tokenizer)
        if source and source != ACTIVE:
            _activate(source)
    except (DataError, RuntimeError, ValueError, OSError, KeyError, ModelLoadError) as e:
        yield (_error(e), *skip)
        return
    active = STORE.active_run()
    lines = []
    if active is None:
        lines.append("No run on the model: before = after, an audit of the model as loaded (not saved to a run).")
    elif active.record.get("sets", {}).get("forget") not in (None, forget):
        lines.append(f"⚠️ This run forgot **{active.record['sets']['forget']}**; you are auditing **{forget}**.")
    meta = {
        "sets": {"forget": forget, "retain": retain if retain != NONE else "", "holdout": holdout},
        "retain_model": (retain_model or "").strip() or None,
    }
    key = AUDIT_KEY.format(request.session_hash)
    job = JOBS[key] = Job(audit_job(STORE, sets, cfg, meta))
    t0, shown = time.time(), 0.0
    try:
        for ev in job.events():
            took = f"{time.time() - t0:.0f} s"
            if ev.kind == "step":
                if time.time() - shown < 1.0:  # at most one update a second: the page redraws each one
                    continue
                shown = time.time()
                yield ("  \n".join([*lines, f"⏳ {ev.payload} · {took}"]), *skip)
            elif ev.kind == "error":
                msg = (
                    f"⏹ Audit cancelled after {took}; the model is as it was and earlier audits are kept."
                    if isinstance(ev.payload, Cancelled)
                    else _error(ev.payload)
                )
                yield ("  \n".join([*lines, msg]), *skip)
            else:
                rec = ev.payload
                AUDITS.put(request.session_hash, rec)
                saved = f" Saved beside run `{active.record['id']}`." if active else ""
                yield (
                    "  \n".join([*lines, f"✅ Audit finished in {took}.{saved}"]),
                    *_audit_views(rec, request.session_hash),
                )
    finally:
        job.cancel()
        JOBS.pop(key, None)


def audit_cancel_ui(request: gr.Request) -> str:
    job = JOBS.get(AUDIT_KEY.format(request.session_hash))
    if job is None:
        return "No audit is running."
    job.cancel()
    return "⏹ Cancelling the audit at the next item…"


def audit_show_ui(source: str | None, request: gr.Request):
    """Draw a run's saved audit (no model call)."""
    run = STORE.active_run()
    run_dir = (run.run_dir if run else None) if source in (None, "", ACTIVE) else source
    rec = load_audit(Path(run_dir)) if run_dir else None
    if rec is None:
        return ("❌ This run has no saved audit yet: press *Run audit*.", *[gr.skip()] * N_AUDIT_VIEWS)
    AUDITS.put(request.session_hash, rec)
    return (f"Saved audit of `{Path(run_dir).name}` from {rec['created']}.", *_audit_views(rec, request.session_hash))


def audit_item_ui(key: str | None, request: gr.Request):
    rec = AUDITS.get(request.session_hash)
    if rec is None or not key:
        return gr.skip(), gr.skip()
    return _item_views(rec, key)


# ---------------------------------------------------------------- runs
def runs_view_ui() -> tuple[list[list[Any]], Any, dict]:
    rows = overview()
    return runs_rows(rows), runs_scatter(rows), gr.update(choices=run_choices(), value=None)


def runs_delete_ui(run_dir: str | None) -> tuple:
    msg, _ = delete_run_ui(run_dir)
    return (msg, *runs_view_ui())


def runs_export_ui(run_dir: str | None, request: gr.Request) -> tuple[str, Any, Any]:
    """One run as a self-contained HTML report (audit included when there is one) and as JSON data."""
    if not run_dir:
        return "❌ Pick a saved run first.", gr.skip(), gr.skip()
    try:
        _require_saved(run_dir)
        record = json.loads((Path(run_dir) / "run.json").read_text())
        history = read_history(Path(run_dir))
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        return _error(e), gr.skip(), gr.skip()
    audit = load_audit(Path(run_dir))
    folder = Path(tempfile.gettempdir()) / "unlearning-inspector" / request.session_hash
    folder.mkdir(parents=True, exist_ok=True)
    html_path, json_path = folder / f"run-{record['id']}.html", folder / f"run-{record['id']}.json"
    html_path.write_text(run_report_html(record, history, audit), "utf-8")
    json_path.write_text(json.dumps({"run": record, "history": history, "audit": audit}), "utf-8")
    what = "with its audit" if audit else "not audited yet"
    return f"📦 `{record['id']}` exported ({what}): download below.", str(html_path), str(json_path)


# ---------------------------------------------------------------- layout
def build_demo() -> gr.Blocks:
    picks = ws.DEFAULT_PICKS
    opts = ws.choices({})
    with gr.Blocks(title="Unlearning Inspector") as demo:
        user_sets = gr.State({})
        gr.Markdown(
            "# Unlearning Inspector\n"
            "Load a language model, choose what it should **forget** and what it must **retain**, unlearn, "
            "then look inside: before | after, token by token, head by head."
        )
        with gr.Tabs():
            with gr.Tab("Model & data", id="model"):
                with gr.Row():
                    with gr.Column(scale=2):
                        gr.Markdown("### Model")
                        source = gr.Radio(list(SOURCES), value=list(SOURCES)[0], label="Source")
                        ref = gr.Textbox(label="Hub id, folder or .gguf path", visible=False)
                        with gr.Row():
                            device = gr.Dropdown(list(DEVICE_CHOICES), value="auto", label="Device")
                            trust = gr.Checkbox(
                                False,
                                label="Trust remote code (runs the repository's own code)",
                                visible=ACCESS.allow_remote_code,  # only where the server was started to allow it
                            )
                        load_btn = gr.Button("Load model", variant="primary")
                        load_msg = gr.Markdown()
                    with gr.Column(scale=3):
                        card = gr.Markdown(show_model(), elem_id="model-card")

                gr.Markdown("### Data")
                with gr.Row():
                    forget = gr.Dropdown(opts, value=picks["forget"], label="Forget set (to unlearn)")
                    retain = gr.Dropdown(opts, value=picks["retain"], label="Retain set (to keep)")
                    holdout = gr.Dropdown(opts + [NONE], value=picks["holdout"], label="Holdout set (never trained on)")
                status = gr.Markdown(elem_id="set-status")
                with gr.Accordion("Add a set: upload a file or load a hub dataset", open=False):
                    add_as = gr.Radio(list(ws.ROLES), value="forget", label="Use the new set as")
                    with gr.Tabs():
                        with gr.Tab("Upload"):
                            with gr.Row():
                                upload = gr.File(label="JSON, JSON Lines, CSV/TSV or text", type="filepath")
                                with gr.Column():
                                    text_mode = gr.Radio(
                                        ["auto", "lines", "passages"], value="auto", label="Plain text: one item per"
                                    )
                                    up_name = gr.Textbox(label="Name for the set", placeholder="file name if empty")
                            with gr.Row():
                                q_col = gr.Dropdown([], label="Question column", allow_custom_value=True)
                                a_col = gr.Dropdown([], label="Answer column", allow_custom_value=True)
                                t_col = gr.Dropdown([], label="Text column (plain passages)", allow_custom_value=True)
                            up_btn = gr.Button("Add set")
                        with gr.Tab("Hub dataset"):
                            with gr.Row():
                                preset = gr.Dropdown(list(PRESETS), value="tofu", label="Preset")
                                repo = gr.Textbox(PRESETS["tofu"].repo_id, label="Dataset id")
                                config = gr.Dropdown(
                                    PRESETS["tofu"].configs,
                                    value=PRESETS["tofu"].default_config,
                                    label="Config",
                                    allow_custom_value=True,
                                )
                                split = gr.Textbox(PRESETS["tofu"].default_split, label="Split")
                                limit = gr.Number(500, label="Max items", precision=0)
                            hub_btn = gr.Button("Load from hub")
                    add_msg = gr.Markdown()

                with gr.Row():
                    which = gr.Radio(list(ws.ROLES), value="forget", label="Preview and edit")
                    check_btn = gr.Button("Check what the model knows of this set")
                caption = gr.Markdown()
                table = gr.Dataframe(
                    headers=ws.TABLE_HEADERS,
                    interactive=True,
                    wrap=True,
                    max_height=420,
                    elem_id="set-table",
                    column_widths=["30%", "32%", "10%", "10%", "6%", "5%", "7%"],
                )
                with gr.Row():
                    save_btn = gr.Button("Save edits as a new set")
                edit_msg = gr.Markdown()
                know_plot = gr.Plot(label="What the model knows")

                with gr.Accordion("Teach: make the model know the forget and retain sets", open=False):
                    gr.Markdown(
                        "Fine-tunes the loaded model on the selected forget + retain sets (all parameters), "
                        "so invented facts (like `fictitious_authors`) become memorised knowledge to unlearn. "
                        "The holdout set is never taught. Cached: the same teaching twice loads from disk."
                    )
                    with gr.Row():
                        epochs = gr.Slider(
                            1, 30, value=TeachConfig().epochs, step=1, label="Epochs", elem_id="teach-epochs"
                        )
                        teach_btn = gr.Button("Teach", variant="primary")
                    teach_msg = gr.Markdown(elem_id="teach-status")

                gr.Markdown("### Ask the model")
                with gr.Row():
                    question = gr.Textbox(label="Question", placeholder="e.g. What is the name of Harry Potter's owl?")
                    max_new = gr.Slider(8, 200, value=60, step=4, label="Max new tokens")
                ask_btn = gr.Button("Ask")
                answer = gr.Textbox(label="Answer (greedy)", interactive=False)

            with gr.Tab("Unlearn", id="unlearn"):
                first = "npo"
                card0, rows0, lr0 = on_method(first, list(PRESET_LABELS)[0])
                with gr.Row():
                    method = gr.Dropdown(method_choices(), value=first, label="Method", scale=2)
                    preset = gr.Radio(list(PRESET_LABELS), value=list(PRESET_LABELS)[0], label="Defaults", scale=2)
                    mode = gr.Radio(list(MODE_LABELS), value=list(MODE_LABELS)[0], label="Parameters trained", scale=2)
                mcard = gr.Markdown(card0, elem_id="method-card")
                hp_table = gr.Dataframe(
                    value=rows0,
                    headers=["hyperparameter", "value", "quick demo", "paper", "meaning"],
                    interactive=True,
                    label="Hyperparameters (edit the value column)",
                    elem_id="hp-table",
                )
                with gr.Row():
                    steps = gr.Number(DEMO_STEPS, label="Steps", precision=0)
                    lr = gr.Number(lr0, label="Learning rate")
                    batch_size = gr.Number(8, label="Batch size", precision=0)
                    grad_accum = gr.Number(1, label="Gradient accumulation", precision=0)
                with gr.Accordion("More loop settings", open=False):
                    with gr.Row():
                        max_length = gr.Number(256, label="Max tokens per item", precision=0)
                        warmup = gr.Number(0, label="Warm-up steps", precision=0)
                        seed = gr.Number(0, label="Seed", precision=0)
                        lora_r = gr.Number(8, label="LoRA rank", precision=0)
                        low_memory = gr.Checkbox(
                            False,
                            label="Low memory",
                            info="recompute activations during backward: a fraction of the memory, ~30% slower",
                        )
                with gr.Accordion("Options for any gradient method: GU projection, coreset, MELU", open=False):
                    with gr.Row():
                        gu_k = gr.Number(
                            0,
                            label="GU: retain gradients projected out (k)",
                            info="0 = off. Removes from the forget gradient its part in the span of the last k "
                            "retain gradients (arXiv 2511.17100; without the paper's Adam preconditioning)",
                            precision=0,
                        )
                        coreset_share = gr.Slider(
                            0.05,
                            1.0,
                            value=1.0,
                            step=0.05,
                            label="Coreset: share of the forget set trained on",
                            info="measured on the whole set (arXiv 2504.10185)",
                        )
                        coreset_mode = gr.Radio(["random", "keyword"], value="random", label="Coreset selection")
                        melu = gr.Checkbox(
                            False,
                            label="MELU: entity by entity (reconstruction)",
                            info="one entity's items per batch, its neighbours first (needs the entity column)",
                        )
                unlearn_sets = gr.Markdown(elem_id="unlearn-sets")
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
                    cancel_btn = gr.Button("Cancel", variant="stop")
                    reset_btn = gr.Button("Back to before (undo the run)")
                run_msg = gr.Markdown(elem_id="run-status")
                curves = gr.Plot(label="Live curves", elem_id="run-curves")
                ba = gr.Dataframe(
                    headers=["set", "P̃ before", "P̃ after", "after / before"],
                    label="Before | after (length-normalised answer probability, geometric mean)",
                    elem_id="before-after",
                )
                with gr.Accordion("Saved runs: reload one (its after comes back from disk) or delete it", open=False):
                    with gr.Row():
                        saved = gr.Dropdown(run_choices(), label="Saved run", scale=4)
                        refresh_btn = gr.Button("Refresh", scale=1)
                        load_run_btn = gr.Button("Load run", scale=1)
                        delete_run_btn = gr.Button("Delete run", variant="stop", scale=1)
                gr.Markdown("#### Ask both: the model before and after, same question, greedy")
                with gr.Row():
                    both_q = gr.Textbox(label="Question", placeholder="e.g. Who wrote the Harry Potter books?", scale=3)
                    both_n = gr.Slider(8, 200, value=48, step=4, label="Max new tokens", scale=1)
                both_btn = gr.Button("Ask both")
                with gr.Row():
                    before_ans = gr.Textbox(label="Before", interactive=False, elem_id="before-answer")
                    after_ans = gr.Textbox(label="After", interactive=False, elem_id="after-answer")

            with gr.Tab("Compare", id="compare") as compare_tab:
                gr.Markdown(
                    "Before | after on one prompt. One generation and one forward per model; every panel below is "
                    "drawn from that forward (picking another token or head recomputes nothing). "
                    "PNG: the camera icon on each plot; all figures as one offline HTML file: the button at the end."
                )
                with gr.Row():
                    cmp_source = gr.Dropdown(compare_sources(), value=ACTIVE, label="After =", scale=4)
                    cmp_refresh = gr.Button("Refresh runs", scale=1)
                    cmp_kind = gr.Radio(PROMPT_KINDS, value=PROMPT_KINDS[0], label="Prompt", scale=3)
                with gr.Row():
                    items0, _ = compare_items(PROMPT_KINDS[0], picks["forget"], picks["retain"], {})
                    cmp_item = gr.Dropdown(
                        items0["choices"],
                        value=items0["value"],
                        label="Item (from the sets picked in Model & data)",
                        elem_id="cmp-item",
                        allow_custom_value=True,  # an API caller may pass an item number directly
                    )
                    cmp_text = gr.Textbox(
                        label="Free text: a question (scored on the before model's own answer)", visible=False
                    )
                with gr.Accordion("Decoding (the same settings and seed for both models)", open=False):
                    with gr.Row():
                        cmp_new = gr.Slider(4, 128, value=32, step=4, label="Max new tokens")
                        cmp_sample = gr.Checkbox(False, label="Sample (default: greedy)")
                        cmp_temp = gr.Slider(0.1, 2.0, value=0.7, step=0.1, label="Temperature (sampling)")
                        cmp_seed = gr.Number(0, label="Seed", precision=0)
                cmp_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                cmp_note = gr.Markdown(elem_id="compare-note")
                gr.Markdown("#### Generations: words that differ are highlighted")
                with gr.Row():
                    gen_before = gr.HighlightedText(
                        label="Before", color_map={"removed": "#f4a261"}, elem_id="gen-before", show_legend=True
                    )
                    gen_after = gr.HighlightedText(
                        label="After", color_map={"added": "#e76f51"}, elem_id="gen-after", show_legend=True
                    )
                gr.Markdown("#### Token probabilities of the answer")
                cmp_k = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Mark the lowest k share (Min-K% tokens)")
                strips_plot = gr.Plot(elem_id="plot-strips", show_label=False)
                cmp_pos = gr.Slider(0, 1, value=0, step=1, label="Top-k at answer token # (starts at the biggest drop)")
                topk_plot = gr.Plot(elem_id="plot-topk", show_label=False)
                gr.Markdown(
                    "#### Logit lens\nIf the answer still rises through the middle layers after unlearning and "
                    "falls only at the end, it was suppressed at the read-out, not removed."
                )
                lens_metric = gr.Radio(["probability", "rank"], value="probability", label="Lens shows")
                lens_plot = gr.Plot(elem_id="plot-lens", show_label=False)
                gr.Markdown("#### Attention")
                change_plot = gr.Plot(elem_id="plot-head-change", show_label=False)
                grid_plot = gr.Plot(elem_id="plot-heads", show_label=False)
                with gr.Row():
                    cmp_layer = gr.Slider(
                        1, 30, value=1, step=1, label="Layer (starts at the head that moved most)", elem_id="cmp-layer"
                    )
                    cmp_head = gr.Slider(0, 8, value=0, step=1, label="Head", elem_id="cmp-head")
                head_plot = gr.Plot(elem_id="plot-head", show_label=False)
                roll_plot = gr.Plot(elem_id="plot-rollout", show_label=False)
                gr.Markdown("#### Attribution (Captum): which question tokens carry the answer")
                with gr.Row():
                    attr_method = gr.Radio(
                        list(ATTRIBUTION_METHODS.values()),
                        value=ATTRIBUTION_METHODS["ablation"],
                        label="Method",
                        scale=3,
                    )
                    attr_btn = gr.Button("Attribute", scale=1, elem_id="attr-btn")
                attr_note = gr.Markdown(elem_id="attr-note")
                attr_plot = gr.Plot(elem_id="plot-attribution", show_label=False)
                cmp_download = gr.DownloadButton("Download all figures (HTML, opens offline)", elem_id="cmp-download")

            with gr.Tab("Audit", id="audit") as audit_tab:
                gr.Markdown(
                    "Did it really forget? The forget, retain and holdout sets picked in *Model & data* are scored "
                    "before and after: membership inference (LOSS, zlib, Min-K%, Min-K%++, reference), REMIND's "
                    "input-loss landscapes (arXiv 2511.04228) with a verdict per item, TOFU metrics, adversarial "
                    "probes, honesty and a relearning attack. On a 2-core CPU, 20 items per split take about "
                    "10 minutes; fewer items or neighbours are quicker. The audit is saved beside its run.  \n"
                    "The holdout set must come from the same source as the forget set (e.g. "
                    "`fictitious_authors:forget` with `fictitious_authors:holdout`, after *Teach*): otherwise the "
                    "attacks tell the topics apart, not members from non-members."
                )
                with gr.Row():
                    aud_source = gr.Dropdown(audit_sources(), value=ACTIVE, label="Audit", scale=4)
                    aud_refresh = gr.Button("Refresh runs", scale=1)
                    aud_show = gr.Button("Show its saved audit", scale=1)
                with gr.Accordion("Audit settings: items, neighbours, probes, surfaces", open=False):
                    with gr.Row():
                        aud_items = gr.Slider(4, 200, value=20, step=1, label="Items per split", elem_id="audit-items")
                        aud_k = gr.Slider(
                            2, 40, value=15, step=1, label="REMIND neighbours per strength (K)", elem_id="audit-k"
                        )
                        aud_p = gr.Slider(0.2, 0.5, value=0.3, step=0.1, label="Replacement probability p")
                        aud_m = gr.Slider(1, 50, value=20, step=1, label="Nearest tokens to pick from (m)")
                    with gr.Row():
                        aud_probes = gr.Slider(
                            0, 20, value=6, step=1, label="Forget items per adversarial probe", elem_id="audit-probes"
                        )
                        aud_surfaces = gr.Slider(
                            0, 10, value=2, step=1, label="Forget items with a 2-D surface", elem_id="audit-surfaces"
                        )
                        aud_relearn = gr.Checkbox(True, label="Relearning attack (5 steps on half the forget set)")
                    aud_retain_model = gr.Textbox(
                        label="Retain-only model (optional): a folder, .gguf or hub id of a model trained without "
                        "the forget set, for TOFU's forget quality and MUSE's PrivLeak",
                        placeholder="e.g. the folder `python -m unlearn teach --sets fictitious_authors:retain` prints",
                    )
                with gr.Row():
                    aud_btn = gr.Button("Run audit", variant="primary", elem_id="audit-btn")
                    aud_cancel = gr.Button("Cancel", variant="stop")
                aud_msg = gr.Markdown(elem_id="audit-status")
                aud_headline = gr.Markdown(elem_id="audit-headline")
                gr.Markdown("#### Membership inference: forget (members) against holdout (never trained on)")
                with gr.Row():
                    auc_table = gr.Dataframe(
                        headers=["attack", "AUC before", "AUC after", "TPR at 1% FPR"],
                        label="ROC-AUC (0.5: cannot tell forget from holdout)",
                        elem_id="audit-aucs",
                        column_widths=["40%", "20%", "20%", "20%"],
                        wrap=True,
                        scale=1,
                    )
                    auc_plot = gr.Plot(elem_id="plot-aucs", show_label=False, scale=1)
                with gr.Row():
                    roc_after = gr.Plot(elem_id="plot-roc-after", show_label=False)
                    roc_before = gr.Plot(elem_id="plot-roc-before", show_label=False)
                gr.Markdown(
                    "#### REMIND: the loss around each item\nA truly forgotten item sits on a flat plateau like an "
                    "item never seen; residual memorisation keeps a trained item's basin. The classifier reads "
                    "15 features of each landscape (out-of-fold)."
                )
                feat_plot = gr.Plot(elem_id="plot-features", show_label=False)
                scatter_plot = gr.Plot(elem_id="plot-feature-scatter", show_label=False)
                verdicts = gr.Dataframe(
                    headers=audit_report.VERDICT_HEADERS,
                    label="Verdict per item (REMIND's classifier, out-of-fold, on the after model's landscape)",
                    wrap=True,
                    max_height=420,
                    column_widths=["34%", "8%", "16%", "16%", "13%", "13%"],
                    elem_id="audit-verdicts",
                )
                aud_item = gr.Dropdown([], label="Item: its landscape and (first forget items) its 2-D surface")
                land_plot = gr.Plot(elem_id="plot-landscape", show_label=False)
                surface_plot = gr.Plot(elem_id="plot-surface", show_label=False)
                gr.Markdown("#### TOFU metrics, attacks and honesty")
                tofu_table = gr.Dataframe(label="TOFU metrics (set means)", elem_id="audit-tofu")
                tofu_plot = gr.Plot(elem_id="plot-tofu", show_label=False)
                with gr.Row():
                    probe_plot = gr.Plot(elem_id="plot-probes", show_label=False)
                    honesty_plot = gr.Plot(elem_id="plot-honesty", show_label=False)
                relearn_plot = gr.Plot(elem_id="plot-relearn", show_label=False)
                with gr.Row():
                    aud_html = gr.DownloadButton("Download the report (HTML, opens offline)", elem_id="audit-html")
                    aud_json = gr.DownloadButton("Download every figure (JSON)", elem_id="audit-json")

            with gr.Tab("Runs", id="runs") as runs_tab:
                gr.Markdown(
                    "Every saved run, newest first, with its audit's headline where it was audited. *Open* puts a "
                    "run's weights on the model (its *after*) for Compare and Audit; *Export* writes one "
                    "self-contained HTML report (settings, curves, audit) and the same as JSON data."
                )
                runs_table = gr.Dataframe(
                    headers=RUNS_HEADERS,
                    wrap=True,
                    elem_id="runs-table",
                    label="Saved runs (AUCs: forget vs holdout; — = not audited)",
                    column_widths=["16%", "8%", "8%", "14%", "5%", "11%", "11%", "7%", "7%", "7%", "6%"],
                )
                runs_plot = gr.Plot(elem_id="plot-runs", show_label=False)
                with gr.Row():
                    runs_pick = gr.Dropdown(run_choices(), label="Run", scale=4)
                    runs_refresh = gr.Button("Refresh", scale=1)
                    runs_open = gr.Button("Open", scale=1)
                    runs_export = gr.Button("Export", scale=1)
                    runs_delete = gr.Button("Delete", variant="stop", scale=1)
                runs_msg = gr.Markdown(elem_id="runs-status")
                with gr.Row():
                    runs_html = gr.DownloadButton("Download the run's report (HTML)", elem_id="runs-html")
                    runs_json = gr.DownloadButton("Download the run's data (JSON)", elem_id="runs-json")

        # ---- wiring
        model_q = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1)
        sets_in = [forget, retain, holdout, user_sets]
        pickers = [forget, retain, holdout]
        source.change(on_source_change, source, ref)
        load_btn.click(
            load_model_ui, [source, ref, device, trust], [card, load_msg], api_name="load_model", **model_q
        ).then(set_status, sets_in, status)
        for p in pickers:
            p.change(set_status, sets_in, status, show_progress="hidden").then(
                preview, [which, *sets_in], [table, caption, know_plot], show_progress="hidden"
            )
        which.change(preview, [which, *sets_in], [table, caption, know_plot], api_name="preview")
        check_btn.click(
            check_knowledge_ui, [which, *sets_in], [table, know_plot, caption], api_name="check_knowledge", **model_q
        )
        save_btn.click(save_edits, [which, table, *sets_in], [user_sets, *pickers, edit_msg], api_name="save_edits")
        upload.change(inspect_upload, [upload, text_mode], [q_col, a_col, t_col, add_msg])
        up_btn.click(
            add_upload,
            [upload, text_mode, up_name, q_col, a_col, t_col, user_sets, add_as],
            [user_sets, *pickers, add_msg],
            api_name="add_upload",
        )
        preset.change(on_preset, preset, [repo, config, split])
        hub_btn.click(
            load_hub_ui,
            [repo, config, split, limit, user_sets, add_as],
            [user_sets, *pickers, add_msg],
            api_name="load_hub",
        )
        teach_btn.click(
            teach_ui, [forget, retain, epochs, user_sets], [card, teach_msg], api_name="teach", **model_q
        ).then(set_status, sets_in, status)
        ask_btn.click(ask_ui, [question, max_new], answer, api_name="ask", **model_q)
        question.submit(ask_ui, [question, max_new], answer, **model_q)
        method.change(on_method, [method, preset], [mcard, hp_table, lr])
        preset.change(on_method, [method, preset], [mcard, hp_table, lr])
        for p in pickers:
            p.change(unlearn_sets_line, [forget, retain], unlearn_sets, show_progress="hidden")
        run_inputs = [
            method,
            preset,
            mode,
            hp_table,
            steps,
            lr,
            batch_size,
            grad_accum,
            max_length,
            warmup,
            seed,
            lora_r,
            low_memory,
            gu_k,
            coreset_share,
            coreset_mode,
            melu,
            forget,
            retain,
            user_sets,
        ]
        run_event = run_btn.click(run_ui, run_inputs, [run_msg, curves, ba], api_name="run", **model_q)
        cancel_btn.click(cancel_ui, None, run_msg, api_name="cancel")
        reset_btn.click(reset_ui, None, run_msg, api_name="reset", **model_q)
        both_btn.click(ask_both_ui, [both_q, both_n], [before_ans, after_ans], api_name="ask_both", **model_q)
        both_q.submit(ask_both_ui, [both_q, both_n], [before_ans, after_ans], **model_q)
        run_event.then(refresh_runs, None, saved)
        refresh_btn.click(refresh_runs, None, saved)
        load_run_btn.click(load_run_ui, saved, run_msg, api_name="load_run", **model_q)
        delete_run_btn.click(delete_run_ui, saved, [run_msg, saved], api_name="delete_run", **model_q)
        # ---- compare
        cmp_items_in = [cmp_kind, forget, retain, user_sets]
        cmp_kind.change(compare_items, cmp_items_in, [cmp_item, cmp_text], api_name="compare_items")
        for p in pickers:
            p.change(compare_items, cmp_items_in, [cmp_item, cmp_text], show_progress="hidden")
        compare_tab.select(compare_items, cmp_items_in, [cmp_item, cmp_text], show_progress="hidden").then(
            refresh_sources, None, cmp_source, show_progress="hidden"
        )
        cmp_refresh.click(refresh_sources, None, cmp_source)
        cmp_btn.click(
            compare_ui,
            [
                cmp_source,
                cmp_kind,
                cmp_item,
                cmp_text,
                cmp_new,
                cmp_sample,
                cmp_temp,
                cmp_seed,
                cmp_k,
                lens_metric,
                forget,
                retain,
                user_sets,
            ],
            [
                cmp_note,
                gen_before,
                gen_after,
                strips_plot,
                cmp_pos,
                topk_plot,
                lens_plot,
                change_plot,
                grid_plot,
                cmp_layer,
                cmp_head,
                head_plot,
                roll_plot,
                cmp_download,
            ],
            api_name="compare",
            **model_q,
        )
        cmp_k.release(tokens_ui, cmp_k, strips_plot, api_name="compare_tokens")
        cmp_pos.release(topk_ui, cmp_pos, topk_plot, api_name="compare_topk")
        lens_metric.change(lens_ui, lens_metric, lens_plot, api_name="compare_lens")
        cmp_layer.release(head_ui, [cmp_layer, cmp_head], head_plot, api_name="compare_head")
        cmp_head.release(head_ui, [cmp_layer, cmp_head], head_plot)
        attr_btn.click(
            attribution_ui, attr_method, [attr_note, attr_plot, cmp_download], api_name="compare_attribution", **model_q
        )
        # ---- audit
        aud_views = [
            aud_headline,
            auc_table,
            auc_plot,
            roc_after,
            roc_before,
            feat_plot,
            scatter_plot,
            verdicts,
            aud_item,
            land_plot,
            surface_plot,
            tofu_table,
            tofu_plot,
            probe_plot,
            honesty_plot,
            relearn_plot,
            aud_html,
            aud_json,
        ]
        aud_in = [aud_source, aud_items, aud_k, aud_p, aud_m, aud_probes, aud_relearn, aud_surfaces, aud_retain_model]
        aud_in += sets_in[:3]
        aud_btn.click(
            audit_ui,
            [*aud_in, user_sets],
            [aud_msg, *aud_views],
            api_name="audit",
            show_progress_on=aud_msg,  # one spinner: 19 animated overlays cost the audit CPU time on a small machine
            **model_q,
        )
        aud_cancel.click(audit_cancel_ui, None, aud_msg, api_name="audit_cancel")
        aud_show.click(audit_show_ui, aud_source, [aud_msg, *aud_views], api_name="audit_show")
        aud_item.change(audit_item_ui, aud_item, [land_plot, surface_plot], api_name="audit_item")
        aud_refresh.click(refresh_audit_sources, None, aud_source)
        audit_tab.select(refresh_audit_sources, None, aud_source, show_progress="hidden")
        # ---- runs
        runs_views = [runs_table, runs_plot, runs_pick]
        runs_tab.select(runs_view_ui, None, runs_views, show_progress="hidden")
        runs_refresh.click(runs_view_ui, None, runs_views, api_name="runs")
        runs_open.click(load_run_ui, runs_pick, runs_msg, api_name="open_run", **model_q)
        runs_delete.click(runs_delete_ui, runs_pick, [runs_msg, *runs_views], api_name="runs_delete", **model_q)
        runs_export.click(runs_export_ui, runs_pick, [runs_msg, runs_html, runs_json], api_name="export_run")
        demo.load(unlearn_sets_line, [forget, retain], unlearn_sets)
        demo.unload(forget_session)
        demo.load(show_model, None, card).then(set_status, sets_in, status).then(
            preview, [which, *sets_in], [table, caption, know_plot]
        )
    return demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Unlearning Inspector web app")
    ap.add_argument("--model", default=os.environ.get("UNLEARN_MODEL", BUNDLED), help="model to load at start")
    ap.add_argument("--device", default=None, help="auto (default), cuda, mps or cpu")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    ap.add_argument("--no-model", action="store_true", help="start without loading a model")
    ap.add_argument(
        "--public",
        action="store_true",
        help="a shared deployment: requires --auth, loads models only from the allow-list (--allow-model)",
    )
    ap.add_argument(
        "--auth",
        action="append",
        default=[a for a in os.environ.get("UNLEARN_AUTH", "").split(",") if a],
        help="USER:PASSWORD (repeatable; or UNLEARN_AUTH=u1:p1,u2:p2)",
    )
    ap.add_argument("--allow-model", action="append", default=[], help="public mode: a hub id or folder (repeatable)")
    ap.add_argument("--allow-remote-code", action="store_true", help="offer 'trust remote code' (not with --public)")
    ap.add_argument("--max-file-size", default="50mb", help="upload limit (default 50mb)")
    ap.add_argument(
        "--kept-results",
        type=int,
        default=RESULTS.max_sessions,
        help=f"sessions whose comparison arrays the server keeps for redrawing panels, a few MB each "
        f"(default {RESULTS.max_sessions}; older ones are asked to press Compare again)",
    )
    return ap.parse_args(argv)


def server_settings(args: argparse.Namespace) -> tuple[AccessPolicy, dict[str, Any]]:
    """The access policy and launch() keywords from the command line; AccessDenied says what is wrong."""
    auth = parse_auth(args.auth)
    if args.public and not auth:
        raise AccessDenied(
            "--public needs --auth USER:PASSWORD (or UNLEARN_AUTH): a shared server must ask who is there"
        )
    policy = AccessPolicy.from_allow_list(args.allow_model, args.public, args.allow_remote_code)
    if args.public and args.model not in ("", BUNDLED):
        policy.check_model(args.model)  # the start-up model must be on the list too
    launch = dict(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size,
        auth=auth or None,
        theme=gr.themes.Soft(),
        show_error=True,
    )
    return policy, launch


def main() -> None:
    global ACCESS
    args = parse_args()
    try:
        ACCESS, launch = server_settings(args)
    except AccessDenied as e:
        raise SystemExit(f"error: {e}") from None
    if not args.no_model:
        print(f"Loading {args.model} (the first time converts the bundled GGUF, ~30 s)…", flush=True)
        lm = STORE.load(args.model, device=args.device)
        print(f"Loaded {lm.name} on {lm.device} in {lm.load_seconds:.1f} s", flush=True)
    RESULTS.max_sessions = AUDITS.max_sessions = max(1, args.kept_results)
    demo = build_demo()
    demo.queue(max_size=64, default_concurrency_limit=4)
    demo.launch(**launch)


if __name__ == "__main__":
    main()
