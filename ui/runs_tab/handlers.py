"""Runs tab: every saved run with its audit headline; export and delete."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import gradio as gr

from ui.common import error_line, guarded
from ui.shared import delete_run_ui, run_choices
from unlearn.audit.audit_record import load_audit
from unlearn.model import pair
from unlearn.serve.runs_overview import overview
from unlearn.serve.server import Server
from unlearn.train.runs import read_history, split_ref
from viz.runs import run_card, run_report_html, runs_rows, runs_scatter
from viz.steps import steps_figure


# ---------------------------------------------------------------- runs
@guarded(3, None)
def runs_view_ui() -> tuple[list[list[Any]], Any, dict]:
    rows = overview()
    choices = run_choices()  # newest first: the run a person just made is the one picked
    return runs_rows(rows), runs_scatter(rows), gr.update(choices=choices, value=choices[0][1] if choices else None)


@guarded(4, 0)
def runs_delete_ui(run_dir: str | None, request: gr.Request | None = None, *, server: Server) -> tuple:
    msg, _ = delete_run_ui(run_dir, request, server=server)
    return (msg, *runs_view_ui())


def _read_run(run_dir: str, server: Server) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A saved run's record and history, after the checks every Runs-tab action makes (raises
    ValueError / OSError with a message: not allowed, interrupted, not a run, damaged)."""
    return pair.read_record(run_dir, server.access), read_history(Path(run_dir))


@guarded(2, 1)
def run_steps_ui(run_dir: str | None, *, server: Server) -> tuple[Any, str]:
    """The picked run's page: what it was, its settings, before → after and its audit's headline, then
    along its steps: forget and retain P̃ per step, the steps it kept, where it stopped."""
    if not run_dir:
        return gr.skip(), ""
    try:
        record, history = _read_run(run_dir, server)
    except (OSError, ValueError) as e:
        return gr.skip(), error_line(e)
    kept = record.get("checkpoints", [])
    audited = [k for k in kept if load_audit(Path(run_dir), k) is not None]
    card = run_card(record, load_audit(Path(run_dir)))
    note = (
        f"Kept steps {', '.join(map(str, kept))}: pick `{record['id']} at step N` in Compare or Audit"
        + (f" (audited: {', '.join(map(str, audited))})." if audited else ".")
        if kept
        else "This run kept no steps: run with *Keep the weights every k steps* to compare and audit along it."
    )
    if record.get("stop"):
        note += f"  \nStop rule: {record.get('metrics', {}).get('stop_reason', '')}"
    return gr.update(value=steps_figure(record, history), visible=True), f"{card}  \n{note}"


@guarded(3, 0)
def runs_export_ui(run_dir: str | None, request: gr.Request, *, server: Server) -> tuple[str, Any, Any]:
    """One run as a self-contained HTML report (audit included when there is one) and as JSON data."""
    if not run_dir:
        return "❌ Pick a saved run first.", gr.skip(), gr.skip()
    try:
        record, history = _read_run(run_dir, server)
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


# ---------------------------------------------------------------- models leaving the app
EXPORT_FORMATS = {"Model folder (save_pretrained, safetensors)": "hf", "PEFT adapter (LoRA runs)": "peft"}


@guarded(2, 0)
def export_model_ui(run_dir: str | None, fmt_label: str, request: gr.Request, *, server: Server) -> tuple[str, Any]:
    """The picked run's after model as a zip of a standard folder (see `python -m unlearn export`)."""
    if not run_dir:
        return "❌ Pick a saved run first.", gr.skip()
    fmt = EXPORT_FORMATS.get(fmt_label, fmt_label)
    try:
        record = pair.read_record(split_ref(run_dir)[0], server.access)
        out = Path(tempfile.gettempdir()) / "unlearning-inspector" / request.session_hash / f"{record['id']}-{fmt}"
        shutil.rmtree(out, ignore_errors=True)  # this session's earlier export of the same run
        try:
            pair.export(run_dir, fmt, out, server.access)
            archive = shutil.make_archive(str(out), "zip", out)
        finally:
            shutil.rmtree(out, ignore_errors=True)  # the zip is what is downloaded
    except (OSError, ValueError, RuntimeError) as e:
        return error_line(e), gr.skip()
    n = Path(archive).stat().st_size
    size = f"{n / 2**20:,.1f} MiB" if n >= 2**20 else f"{n / 2**10:,.0f} KiB"  # an adapter is often under 1 MiB
    load = "AutoModelForCausalLM.from_pretrained" if fmt == "hf" else "PeftModel.from_pretrained"
    return f"📦 `{record['id']}` as {fmt_label} ({size} zipped): unzip and load with `{load}`.", archive
