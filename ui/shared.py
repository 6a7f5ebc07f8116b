"""What more than one tab uses: the saved-run pickers, deleting a run, the sources a comparison or an
audit may take, and each session's last comparison. Tabs import this module, never each other."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from ui import common
from ui.common import ACTIVE, AGAINST_ITSELF, KEPT_RESULTS, error_line, guarded, user_of
from unlearn.inspection.compare import SessionResults
from unlearn.serve.store import STORE
from unlearn.train.runs import STEP_MARK, delete_run, list_runs, run_ref, saved_steps

RESULTS = SessionResults(KEPT_RESULTS)  # each session's last comparison (its arrays), bounded (--kept-results)


def run_choices(steps: bool = False) -> list[tuple[str, str]]:
    """Every saved run, newest first; with `steps`, each followed by the steps it kept (runs made with
    "save every k steps"), as `RUN_DIR#step=N` references."""
    out = []
    for r in list_runs():
        m = r.get("metrics", {})
        fb, fa = m.get("forget_prob_before"), m.get("forget_prob_after")
        figures = f", forget {fb:.3f}→{fa:.3f}" if fb is not None and fa is not None else ""
        out.append((f"{r['id']} · {r.get('status', '?')}{figures}", r["dir"]))
        if steps:
            out += [(f"    ↳ {r['id']} at step {k}", run_ref(r["dir"], k)) for k in saved_steps(r)]
    return out


@guarded(message=None)
def refresh_runs() -> dict:
    return gr.update(choices=run_choices(steps=True), value=None)


@guarded(2, 0)
def delete_run_ui(run_dir: str | None, request: gr.Request | None = None) -> tuple[str, dict]:
    if not run_dir:
        return "❌ Pick a saved run first.", gr.update()
    try:
        common.ACCESS.check_operator(user_of(request), "delete runs")
    except ValueError as e:
        return error_line(e), gr.update()
    if STEP_MARK in str(run_dir):
        return (
            "❌ That is a step the run kept, not a run: pick the run itself to delete it (its kept steps go with it).",
            gr.update(),
        )
    active = STORE.active_run()
    if active is not None and active.folder == Path(run_dir):
        STORE.clear_run()
    try:
        delete_run(Path(run_dir))
    except ValueError as e:
        return error_line(e), refresh_runs()
    return f"🗑 Deleted {Path(run_dir).name}.", refresh_runs()


def compare_sources() -> list[tuple[str, str]]:
    active = STORE.active_run()
    now = f"The run on the model now: {active.label}" if active else "The model now (no run yet: after = before)"
    return [(now, ACTIVE), ("The model as loaded, against itself", AGAINST_ITSELF)] + run_choices(steps=True)
