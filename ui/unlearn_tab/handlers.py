"""Unlearn tab: method cards and settings, run with live curves, cancel, undo, ask both, saved runs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ui.common import NONE, error_line, guarded, new_tokens, number, user_of
from ui.forms import takes
from ui.shared import step_line
from unlearn.data import workspace as ws
from unlearn.errors import UserError
from unlearn.inspection.streaming import Emit, TextStreamer, in_thread
from unlearn.model.scoring import generate_answers
from unlearn.serve.jobs import Job, unlearn_job
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from unlearn.train.engine import RunSpec
from unlearn.train.loop import LoopConfig
from unlearn.train.methods import METHODS, config_for, describe, get_method
from unlearn.train.run_verdict import retain_weight, run_warnings
from viz.cards import before_after_table, method_card
from viz.curves import run_curves

# ---------------------------------------------------------------- unlearn
PRESET_LABELS = {"Quick demo (bundled model, CPU)": "quick", "Paper defaults": "paper"}
MODE_LABELS = {"LoRA adapters": "lora", "Full parameters": "full", "Method's own subset": "subset"}


def method_choices() -> list[tuple[str, str]]:
    return [
        (f"{d['name']} ({d['id']})" + ("" if d["faithful"] else " · reconstruction"), d["id"])
        for d in map(describe, sorted(METHODS))
    ]


@guarded(3, 0)
def on_method(method_id: str, preset_label: str) -> tuple[str, list[list[Any]], float]:
    """Card, hyperparameter table and learning rate for a method and a preset."""
    d = describe(method_id)
    preset = PRESET_LABELS.get(preset_label, "quick")
    rows = [
        [h["name"], h["quick"] if preset == "quick" else h["paper"], h["quick"], h["paper"], h["help"]]
        for h in d["hyperparameters"]
    ]
    return method_card(d, with_table=False), rows, get_method(method_id).info.lr_for(preset)


@guarded(message=None)
def mode_for(method_id: str) -> str:
    """The "Parameters trained" choice a method starts with: its own subset where its paper trains one."""
    default = describe(method_id)["default_mode"]
    return next(label for label, mode in MODE_LABELS.items() if mode == default)


def _hparams(method_id: str, rows: Any) -> dict[str, Any]:
    """The edited hyperparameter table back to typed values (numbers stay numbers)."""
    data = rows.values.tolist() if hasattr(rows, "values") else rows or []
    if not isinstance(data, list | tuple):
        raise UserError("the hyperparameter table must be rows of [name, value]: reset the method to get it back")
    defaults = config_for(method_id)
    out: dict[str, Any] = {}
    for row in data:
        if not isinstance(row, list | tuple) or not row or not row[0]:
            continue
        if len(row) < 2:
            raise UserError(f"hyperparameter {row[0]}: the row has no value: type one in the value column")
        name, value = str(row[0]), row[1]
        kind = type(getattr(defaults, name, ""))
        try:
            out[name] = kind(value) if kind in (int, float, str) and not isinstance(value, kind) else value
        except (TypeError, ValueError):  # parsing: a cell that is not of the type
            raise UserError(f"hyperparameter {name}: {value!r} is not a valid {kind.__name__}") from None
        if isinstance(out[name], float) and not math.isfinite(out[name]):
            raise UserError(f"hyperparameter {name} must be a finite number, got {value!r}")
    return out


def _share(value: Any, label: str) -> float | None:
    """A stop-rule share box: 0 or empty is off, else a share of the value before (0-1]."""
    if value in (None, ""):
        return None
    x = number(value, label)
    return None if x == 0 else x


@dataclass
class RunForm:
    """The run settings as the Unlearn tab shows them: raw widget values, checked by run_ui. The order
    is the API's (`/run` takes one value per field)."""

    method_id: Any
    preset_label: Any
    mode_label: Any
    hp_rows: Any
    steps: Any
    lr: Any
    batch_size: Any
    grad_accum: Any
    max_length: Any
    warmup: Any
    seed: Any
    lora_r: Any
    low_memory: Any
    gu_k: Any
    coreset_share: Any
    coreset_mode: Any
    melu: Any
    save_every: Any
    stop_forget: Any
    keep_retain: Any
    forget: Any
    retain: Any
    user_sets: Any


@guarded(3, 0)
@takes(RunForm)
def run_ui(f: RunForm, request: gr.Request, *, server: Server):
    """Generator: start the run in a worker thread, then redraw the curves after every step."""
    no_table = gr.skip()
    try:
        server.access.check_operator(user_of(request), "run unlearning")
        STORE.require()
        fset = ws.resolve(f.forget, f.user_sets)
        rset = ws.resolve(f.retain, f.user_sets) if f.retain and f.retain != NONE else None
        loop = LoopConfig(
            lr=number(f.lr, "learning rate"),
            steps=number(f.steps, "steps", int),
            batch_size=number(f.batch_size, "batch size", int),
            grad_accum=number(f.grad_accum, "gradient accumulation", int),
            max_length=number(f.max_length, "max length", int),
            warmup=number(f.warmup, "warm-up steps", int),
            seed=number(f.seed, "seed", int),
        )
        loop.validate()
        spec = RunSpec(
            f.method_id,
            PRESET_LABELS.get(f.preset_label, "quick"),
            _hparams(f.method_id, f.hp_rows),
            MODE_LABELS.get(f.mode_label, "lora"),
            number(f.lora_r, "LoRA rank", int),
            loop,
            low_memory=bool(f.low_memory),
            project_retain=number(f.gu_k or 0, "GU k", int),
            coreset=number(f.coreset_share, "coreset share"),
            coreset_mode=str(f.coreset_mode),
            melu=bool(f.melu),
            save_every=number(f.save_every or 0, "save every k steps", int),
            stop_forget=_share(f.stop_forget, "stop when forget P̃ is at most"),
            keep_retain=_share(f.keep_retain, "keep held-out retain P̃ at least"),
        )
        config_for(spec.method, spec.preset, **spec.hparams)
    except (UserError, RuntimeError) as e:
        yield error_line(e), None, no_table
        return
    train, held = ws.split_retain(rset.examples) if rset else ([], [])
    work = unlearn_job(
        STORE, spec, [e for e in fset.examples], train, held, {"forget": f.forget, "retain": f.retain or ""}
    )
    job = server.jobs[request.session_hash] = Job(work)
    history: list[dict[str, Any]] = []
    title = f"{describe(f.method_id)['name']} on {f.forget}"
    try:
        yield f"⏳ Measuring the model before {describe(f.method_id)['name']}…", None, no_table
        for ev in job.events():
            if ev.kind == "step":
                msg = step_line(history, ev.payload)
                yield msg, run_curves(history, title, ev.payload.total), no_table
            elif ev.kind == "error":
                yield (
                    error_line(ev.payload) + "  \nThe model is as it was before this run.",
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
                if out.stop:
                    msg += f"  \n⏹ {m['stop_reason']}"
                if str(m.get("training_precision", "")).startswith("fp32 master"):
                    msg += f"  \nPrecision: {m['training_precision']} (a bf16 step at this rate would round away)."
                for line in run_warnings(m, rset is not None, retain_weight(f.method_id), spec.keep_retain is not None):
                    msg += f"  \n{line}"
                if out.checkpoints:
                    msg += (
                        f"  \nKept the weights at steps {', '.join(map(str, sorted(out.checkpoints)))}: pick one in "
                        "Compare or Audit (listed under the run)."
                    )
                table = before_after_table(
                    [
                        ("forget: " + f.forget, m["forget_prob_before"], m["forget_prob_after"]),
                        ("retain, held out: " + (f.retain or "none"), m["retain_prob_before"], m["retain_prob_after"]),
                    ]
                )
                yield msg, run_curves(out.history, title), table
    finally:
        job.cancel()  # a page that went away, or Cancel, stops the run at the next step
        server.jobs.pop(request.session_hash, None)


@guarded()
def cancel_ui(request: gr.Request, *, server: Server) -> str:
    job = server.jobs.get(request.session_hash)
    if job is None:
        return "Nothing is running."
    job.cancel()
    return "⏹ Cancelling at the end of the current step; the steps done so far are kept and saved as a cancelled run."


@guarded(2, 0)
def ask_both_ui(question: str, max_new_tokens: float) -> Iterator[tuple[str, str]]:
    """Greedy answers of the model before the run, then after it, each shown token by token as it
    is written (the last value holds both answers)."""
    if not (question or "").strip():
        yield "❌ Type a question first.", ""
        return
    q = question.strip()

    def work(emit: Emit) -> tuple[str, str]:
        with STORE.lock:  # held by the worker thread for both answers: one run on both sides
            no_run = "(no unlearning run yet: after = before)  " if STORE.active_run() is None else ""
            with STORE.before() as lm:
                show = TextStreamer(lm.tokenizer, lambda t: emit((t[0], ""), partial=True))
                before = generate_answers(lm.model, lm.tokenizer, [q], n, streamer=show)[0]
            lm = STORE.require()
            show = TextStreamer(lm.tokenizer, lambda t: emit((before or "(no text)", no_run + t[0]), partial=True))
            after = no_run + generate_answers(lm.model, lm.tokenizer, [q], n, streamer=show)[0]
        return before or "(no text)", after or "(no text)"

    try:
        n = new_tokens(max_new_tokens)
        STORE.require()
        with closing(in_thread(work)) as events:
            yield from (answers for _, answers in events)  # the answers so far, then both whole
    except (RuntimeError, ValueError) as e:
        yield error_line(e), ""


@guarded()
def unlearn_sets_line(forget: str, retain: str) -> str:
    return (
        f"Forget **{forget}**, retain **{retain or 'none'}** (picked in *Model & data*; the retain set's "
        "`eval` part, or every other item, is only measured, never trained on)."
    )


@guarded()
def reset_ui(request: gr.Request | None = None, *, server: Server) -> str:
    try:
        server.access.check_operator(user_of(request), "undo the run")
    except ValueError as e:
        return error_line(e)
    STORE.clear_run()
    return "The model is back to before any run (saved runs stay on disk)."
