"""Runs tab: every saved run with its audit headline; export and delete."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from ui import common
from ui.common import error_line, guarded
from ui.unlearn_tab import delete_run_ui, require_run_folder, require_saved, run_choices
from unlearn.audit_record import load_audit
from unlearn.runs import read_history
from unlearn.runs_overview import overview
from viz.runs import run_report_html, runs_rows, runs_scatter
from viz.steps import steps_figure


# ---------------------------------------------------------------- runs
@guarded(3, None)
def runs_view_ui() -> tuple[list[list[Any]], Any, dict]:
    rows = overview()
    choices = run_choices()  # newest first: the run a person just made is the one picked
    return runs_rows(rows), runs_scatter(rows), gr.update(choices=choices, value=choices[0][1] if choices else None)


@guarded(4, 0)
def runs_delete_ui(run_dir: str | None, request: gr.Request | None = None) -> tuple:
    msg, _ = delete_run_ui(run_dir, request)
    return (msg, *runs_view_ui())


def _read_run(run_dir: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A saved run's record and history, after the checks every Runs-tab action makes (raises
    ValueError / OSError with a message: not allowed, interrupted, not a run, damaged)."""
    common.ACCESS.check_run(run_dir)  # public mode: runs only from the runs folder
    require_saved(run_dir)
    require_run_folder(run_dir)
    return json.loads((Path(run_dir) / "run.json").read_text()), read_history(Path(run_dir))


@guarded(2, 1)
def run_steps_ui(run_dir: str | None) -> tuple[Any, str]:
    """The picked run along its steps: forget and retain P̃ per step, the steps it kept, where it stopped."""
    if not run_dir:
        return gr.skip(), ""
    try:
        record, history = _read_run(run_dir)
    except (OSError, ValueError) as e:
        return gr.skip(), error_line(e)
    kept = record.get("checkpoints", [])
    audited = [k for k in kept if load_audit(Path(run_dir), k) is not None]
    note = (
        f"Kept steps {', '.join(map(str, kept))}: pick `{record['id']} at step N` in Compare or Audit"
        + (f" (audited: {', '.join(map(str, audited))})." if audited else ".")
        if kept
        else "This run kept no steps: run with *Keep the weights every k steps* to compare and audit along it."
    )
    if record.get("stop"):
        note += f"  \nStop rule: {record.get('metrics', {}).get('stop_reason', '')}"
    return gr.update(value=steps_figure(record, history), visible=True), note


@guarded(3, 0)
def runs_export_ui(run_dir: str | None, request: gr.Request) -> tuple[str, Any, Any]:
    """One run as a self-contained HTML report (audit included when there is one) and as JSON data."""
    if not run_dir:
        return "❌ Pick a saved run first.", gr.skip(), gr.skip()
    try:
        record, history = _read_run(run_dir)
    except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
        return error_line(e), gr.skip(), gr.skip()
    audit = load_audit(Path(run_dir))
    folder = Path(tempfile.gettempdir()) / "unlearning-inspector" / request.session_hash
    folder.mkdir(parents=True, exist_ok=True)
    html_path, json_path = folder / f"run-{record['id']}.html", folder / f"run-{record['id']}.json"
    html_path.write_text(run_report_html(record, history, audit), "utf-8")
    json_path.write_text(json.dumps({"run": record, "history": history, "audit": audit}), "utf-8")
    what = "with its audit" if audit else "not audited yet"
    return f"📦 `{record['id']}` exported ({what}): download below.", str(html_path), str(json_path)
