"""Guided demo: six steps, one button each, the story of one unlearning run told to a class.

Each step runs the code the other tabs run (Unlearn's job, Compare's comparison, Audit's job) on the
shared model and keeps what later steps read in the session (GUIDES): the run it made and the comparison.
"""

from __future__ import annotations

import time
from contextlib import closing
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ui.common import KEPT_RESULTS, error_line, guarded, user_of
from ui.shared import step_line
from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.inspection.compare import Comparison, Decoding, SessionResults, compare
from unlearn.inspection.streaming import in_thread
from unlearn.model import pair
from unlearn.serve import guided
from unlearn.serve.jobs import Job, audit_job, unlearn_job
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from viz import audit_report, audit_text, panels
from viz.cards import before_after_table
from viz.curves import run_curves
from viz.tokens import word_diff

GUIDES = SessionResults(KEPT_RESULTS)  # each session's guide: its run and comparison (apart from Compare's)
GUIDE_KEY = "{}:guide"  # the guide's running job in the server's jobs


def _state(request: gr.Request) -> dict[str, Any]:
    got = GUIDES.get(request.session_hash)
    if got is None:
        got = {}
        GUIDES.put(request.session_hash, got)
    return got


def _followed() -> Example:
    """The item the story follows: the first forget question."""
    return guided.guide_sets()["forget"][0]


def _need_run(request: gr.Request) -> dict[str, Any]:
    """The session's guide state, with its run still the one on the model."""
    st = _state(request)
    if not st.get("run_dir"):
        raise UserError("Press step 2 (Unlearn) first.")
    run = STORE.active_run()
    if run is None or run.run_dir != st["run_dir"]:
        raise UserError("The model carries another run now (another tab or user?): press step 2 again.")
    return st


def _need_comparison(request: gr.Request) -> Comparison:
    st = _need_run(request)
    if st.get("c") is None or st.get("c_run") != st["run_dir"]:
        raise UserError("Press step 3 (The answer changed) first.")
    return st["c"]


# ---------------------------------------------------------------- 1. what the model knows
@guarded(2, 0)
def knows_ui(request: gr.Request) -> tuple[str, Any]:
    try:
        STORE.require()
        items = guided.guide_sets()["forget"]
        t0 = time.perf_counter()
        with STORE.before() as lm:  # the model as loaded, whatever run is on it
            known = guided.knows(lm.model, lm.tokenizer, items)
    except (UserError, RuntimeError) as e:
        return error_line(e), gr.skip()
    rows = [[k.question, k.answer, k.gold, f"{k.p_gold:.3f}"] for k in known]
    first = known[0]
    note = (
        f"The model answers **{len(known)}** Harry Potter questions it learnt in pre-training "
        f"({time.perf_counter() - t0:.0f} s). We follow the first: *{first.question}* — it answers "
        f"“{first.answer.strip()[:120]}”, and finds the gold answer “{first.gold}” likely: P = {first.p_gold:.2f} "
        "(the mean per-token probability of the gold answer)."
    )
    return note, rows


# ---------------------------------------------------------------- 2. unlearn
@guarded(3, 0)
def unlearn_ui(request: gr.Request, *, server: Server):
    """Generator: the quick NPO run on the forget questions, its curves after every step."""
    try:
        server.access.check_operator(user_of(request), "run unlearning")
        STORE.require()
        sets = guided.guide_sets()
        spec = guided.guide_spec()
    except (UserError, RuntimeError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    work = unlearn_job(
        STORE,
        spec,
        sets["forget"],
        sets["retain_train"],
        sets["retain_eval"],
        {"forget": guided.FORGET, "retain": guided.RETAIN},
    )
    key = GUIDE_KEY.format(request.session_hash)
    job = server.jobs[key] = Job(work)
    history: list[dict[str, Any]] = []
    title = f"NPO on {guided.FORGET}"
    try:
        yield "⏳ Measuring the model before unlearning…", gr.skip(), gr.skip()
        for ev in job.events():
            if ev.kind == "step":
                msg = step_line(history, ev.payload)
                yield msg, run_curves(history, title, ev.payload.total), gr.skip()
            elif ev.kind == "error":
                yield error_line(ev.payload) + "  \nThe model is as it was before.", gr.skip(), gr.skip()
            else:
                out, run_dir = ev.payload
                _state(request).update(run_dir=run_dir, c=None)
                m = out.metrics
                msg = (
                    f"✅ {len(out.history)} steps of NPO in {out.seconds:.0f} s, saved as `{Path(run_dir).name}`. "
                    f"The forget questions' P̃ fell from {m['forget_prob_before']:.3f} to {m['forget_prob_after']:.3g}; "
                    f"general knowledge it must keep went from {m['retain_prob_before']:.3f} to "
                    f"{m['retain_prob_after']:.3f}."
                )
                table = before_after_table(
                    [
                        ("forget: " + guided.FORGET, m["forget_prob_before"], m["forget_prob_after"]),
                        ("retain, held out: " + guided.RETAIN, m["retain_prob_before"], m["retain_prob_after"]),
                    ]
                )
                yield msg, run_curves(out.history, title), table
    finally:
        job.cancel()
        server.jobs.pop(key, None)


# ---------------------------------------------------------------- 3. the answer changed
@guarded(3, 0)
def changed_ui(request: gr.Request, *, server: Server):
    """Generator: both answers to the followed question (one comparison, kept for steps 4 and 5)."""
    try:
        st = _need_run(request)
        ex = _followed()
    except (UserError, RuntimeError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    yield "⏳ Asking the model before and after the run…", gr.skip(), gr.skip()

    def work(_emit: Any) -> Comparison:
        with STORE.lock:
            lm = STORE.require()
            p = pair.current()
            with p.after():
                return compare(
                    lm.model, lm.tokenizer, p.reference, ex, Decoding(guided.ANSWER_TOKENS), p.has_run, p.label
                )

    try:
        with closing(in_thread(work)) as events:
            for what, value in events:
                if what == "done":
                    c = value
    except (UserError, RuntimeError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    st.update(c=c, c_run=st["run_dir"])
    left, right = word_diff(c.before.generation or "(no text)", c.after.generation or "(no text)")
    note = (
        f"*{ex.question}* Before the run the model answers as on the left; after it, as on the right "
        "(the words that differ are marked). Same question, same greedy decoding: only the weights changed."
    )
    yield note, left, right


# ---------------------------------------------------------------- 4. the token that fell
@guarded(3, 0)
def token_ui(request: gr.Request) -> tuple[str, Any, Any]:
    try:
        c = _need_comparison(request)
    except UserError as e:
        return error_line(e), gr.skip(), gr.skip()
    i = panels.biggest_drop(c)
    b, a = c.before.probe, c.after.probe
    pos = b.answer_start + i
    token = b.tokens[pos]
    pb, pa = float(np.exp(b.gold_logprob[pos])), float(np.exp(a.gold_logprob[pos]))
    note = (
        f"Token by token through the gold answer “{c.example.answer}”: the token **{token.strip() or token!r}** fell "
        f"most, from p = {pb:.3f} before to p = {pa:.3g} after. Below, what each model would write there instead."
    )
    return note, panels.strips(c), panels.topk(c, i)


# ---------------------------------------------------------------- 5. the layer where it stopped
@guarded(2, 0)
def layer_ui(request: gr.Request) -> tuple[str, Any]:
    try:
        c = _need_comparison(request)
    except UserError as e:
        return error_line(e), gr.skip()
    i = panels.biggest_drop(c)
    b, a = c.before.probe, c.after.probe
    at = b.answer_start - 1 + i  # the position that predicts the token that fell
    token = b.tokens[at + 1].strip() or b.tokens[at + 1]
    n_layers = b.lens_prob.shape[0]
    depth_b, depth_a = guided.lens_depth(b.lens_prob, at), guided.lens_depth(a.lens_prob, at)
    said_b = f"after layer {depth_b} of {n_layers}" if depth_b else "at no layer"
    said_a = f"after layer {depth_a}" if depth_a else "at no layer any more"
    note = (
        f"The logit lens reads the model's guess for the next token after every layer. Before the run, "
        f"**{token}** is the likely next token (p ≥ 0.5) {said_b}; after it, {said_a}. Where the answer still "
        "rises through the middle layers and falls only at the end, it was suppressed at the read-out rather "
        "than removed (the Compare tab's *Patch layers* tests that directly)."
    )
    return note, panels.lens(c)


# ---------------------------------------------------------------- 6. did it really forget?
@guarded(3, 0)
def audit_ui(request: gr.Request, *, server: Server):
    """Generator: a small audit of the guide's run, its headline and two figures."""
    try:
        _need_run(request)
        sets = guided.guide_sets()
        audit_sets = {"forget": sets["forget"], "retain": sets["retain_eval"], "holdout": sets["holdout"]}
    except (UserError, RuntimeError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    key = GUIDE_KEY.format(request.session_hash)
    job = server.jobs[key] = Job(audit_job(STORE, audit_sets, guided.guide_audit(), guided.meta()))
    t0 = time.perf_counter()
    try:
        for ev in job.events():
            if ev.kind == "step":
                yield f"⏳ {ev.payload}", gr.skip(), gr.skip()
            elif ev.kind == "error":
                yield error_line(ev.payload), gr.skip(), gr.skip()
            else:
                rec = ev.payload
                figs = audit_report.audit_figures(rec)
                lines = [audit_text.headline(rec)]
                lines += [line for line in [audit_text.quantization_line(rec)] if line]
                note = (
                    f"An audit in {time.perf_counter() - t0:.0f} s ({guided.AUDIT_ITEMS} questions each: forgotten, "
                    "never known, general knowledge). A model that truly forgot treats the forgotten questions like "
                    "ones it never saw: an AUC near 0.5. Far from 0.5 either way they still stand out; near 0 the "
                    "model now finds them even less likely than questions it never knew, which is itself a trace "
                    "of the unlearning. Quantizing it to 4 bits should not bring them back.  \n" + "  \n".join(lines)
                )
                yield note, figs["Membership-inference AUCs"], figs.get("Quantization attack")
    finally:
        job.cancel()
        server.jobs.pop(key, None)
