"""What more than one tab uses: the set pickers (Picks), the saved-run pickers, loading and deleting a run, the
sources a comparison or an audit may take, and each session's last comparison. Tabs import this
module, never each other."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ui.common import ACTIVE, AGAINST_ITSELF, KEPT_RESULTS, error_line, guarded, user_of
from unlearn.errors import UserError
from unlearn.inspection.compare import SessionResults
from unlearn.model import pair
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from unlearn.train.runs import STEP_MARK, delete_run, list_runs, run_ref, saved_steps, split_ref

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
def delete_run_ui(run_dir: str | None, request: gr.Request | None = None, *, server: Server) -> tuple[str, dict]:
    if not run_dir:
        return "❌ Pick a saved run first.", gr.update()
    try:
        server.access.check_operator(user_of(request), "delete runs")
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


def activate_run(ref: str, server: Server, user: str | None = None) -> dict[str, Any]:
    """Put a saved run (or a step it kept) on the shared model as its *after* (see `pair.activate`)."""
    return pair.activate(ref, server.access, user)


@guarded()
def load_run_ui(run_dir: str | None, request: gr.Request | None = None, *, server: Server) -> str:
    """Put a saved run's weights on the loaded model: after a restart the "after" model comes back."""
    if not run_dir:
        return "❌ Pick a saved run first."
    try:
        record = activate_run(run_dir, server, user_of(request))
    except (UserError, OSError, RuntimeError) as e:
        return error_line(e)
    _, step = split_ref(run_dir)
    at = f" at step {step}" if step is not None else ""
    return f"✅ Loaded run `{record['id']}`{at} ({record['method']}, {record['status']}): the model is now its *after*."


def compare_sources() -> list[tuple[str, str]]:
    active = STORE.active_run()
    now = f"The run on the model now: {active.label}" if active else "The model now (no run yet: after = before)"
    return [(now, ACTIVE), ("The model as loaded, against itself", AGAINST_ITSELF)] + run_choices(steps=True)


@dataclass(frozen=True)
class Picks:
    """The set pickers of *Model & data* and the session's own sets: what the other tabs read."""

    forget: gr.Dropdown
    retain: gr.Dropdown
    holdout: gr.Dropdown
    user_sets: gr.State

    @property
    def pickers(self) -> list[gr.Dropdown]:
        return [self.forget, self.retain, self.holdout]

    @property
    def sets_in(self) -> list[Any]:
        """forget, retain, holdout, user_sets: the inputs of every handler that reads the picked sets."""
        return [*self.pickers, self.user_sets]

    def on_change(self, fn: Callable[..., Any], inputs: list[Any], outputs: Any) -> None:
        """Call `fn` whenever any picker changes (quietly: no spinner over the tab)."""
        for p in self.pickers:
            p.change(fn, inputs, outputs, show_progress="hidden")


def step_line(history: list[dict[str, Any]], s: Any) -> str:
    """An unlearning run's step (a StepInfo) as the status line; its logs are appended to `history`,
    which the live curves are drawn from."""
    history.append({"step": s.step, **s.logs})
    msg = f"⏳ Step {s.step} / {s.total} · {s.seconds:.0f} s"
    if "forget_prob" in s.logs:
        msg += f" · forget P̃ {s.logs['forget_prob']:.4f} · retain P̃ {s.logs['retain_prob']:.4f}"
    return msg
