"""Audit tab: run, cancel, show and browse an audit; each session keeps its last audit record."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ui.common import ACTIVE, AGAINST_ITSELF, KEPT_RESULTS, NONE, error_line, guarded, number, user_of
from ui.forms import slots, takes
from ui.shared import RESULTS, compare_sources
from unlearn.audit.audit_record import load_audit
from unlearn.audit.pipeline import AuditConfig
from unlearn.audit.relearn import RelearnConfig
from unlearn.audit.remind import RemindConfig
from unlearn.data import workspace as ws
from unlearn.data.builtin import utility_sets
from unlearn.data.holdout import source_note
from unlearn.errors import UserError
from unlearn.inspection.compare import SessionResults
from unlearn.model import pair
from unlearn.model.models import load_model
from unlearn.serve.access import AccessDenied
from unlearn.serve.jobs import Cancelled, Job, audit_job
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from unlearn.train.runs import split_ref
from viz import audit_report
from viz.export import figures_json

# ---------------------------------------------------------------- audit
AUDITS = SessionResults(KEPT_RESULTS)  # each session's last audit record (plain JSON data, ~100 kB), bounded
# audit_ui's and audit_show_ui's outputs, in order: the status line, then every view of the record
VIEWS = (
    "message",
    "headline",
    "auc_table",
    "auc_plot",
    "roc_after",
    "roc_before",
    "features",
    "scatter",
    "verdicts",
    "item",
    "landscape",
    "surface",
    "tofu_table",
    "tofu_plot",
    "probes",
    "honesty",
    "relearn",
    "quantization",
    "patching",
    "patching_curves",
    "html",
    "json",
)
AUDIT_KEY = "{}:audit"  # the audit's Job in the server's jobs, beside the session's unlearning run


@guarded(0, None)
def forget_session(request: gr.Request) -> None:
    """A browser tab was closed: free what the server kept for it (its comparison arrays, its audit)."""
    RESULTS.drop(request.session_hash)
    AUDITS.drop(request.session_hash)


def audit_sources() -> list[tuple[str, str]]:
    return [c for c in compare_sources() if c[1] != AGAINST_ITSELF]  # an audit of the model alone is "no run"


@guarded(message=None)
def refresh_audit_sources() -> dict:
    return gr.update(choices=audit_sources(), value=ACTIVE)


EXTRAS = {  # the "Also run" choices: label -> what it switches on
    "TOFU model utility (scores Real Authors and World Facts, 217 questions)": "utility",
    "GradNorm attack (a backward per 8 items)": "gradnorm",
    "Quantization attack (4 bits, the paper's attack)": "quantize",
    "Quantization at 8 bits too (a control: restores little)": "quantize8",
}
DEFAULT_EXTRAS = [label for label, key in EXTRAS.items() if key != "quantize8"]  # the audit's defaults


def audit_config(
    items, neighbours, p, m, probes, relearn_on, surfaces, extras=tuple(DEFAULT_EXTRAS), patched=0
) -> AuditConfig:
    """The tab's settings; the strength sweep runs from 0.1 up to p in steps of 0.1 (REMIND's features
    read the neighbourhood at p and the curvature at the first steps)."""
    patched = number(patched, "Forget items patched", int)
    if patched < 0:
        raise UserError(f"Forget items patched: 0 (no patching) or more, got {patched}")
    items, neighbours, m = (number(v, k, int) for v, k in ((items, "Items per split"), (neighbours, "K"), (m, "m")))
    probes, surfaces = number(probes, "Probe items", int), number(surfaces, "2-D surfaces", int)
    if items < 2:
        raise UserError("Items per split: at least 2 items are needed (REMIND's classifier is cross-validated).")
    p = round(number(p, "p"), 1)
    if not 0 < p <= 1:  # before the strengths are built from it
        raise UserError(f"p must be in (0, 1] (the perturbation strength), got {p}")
    strengths = tuple(round(0.1 * i, 1) for i in range(1, int(round(p * 10)) + 1))
    remind = RemindConfig(p=p, m=m, k=neighbours, strengths=strengths if len(strengths) > 1 else (0.1, 0.2))
    remind.check()
    on = {EXTRAS[e] for e in extras or () if e in EXTRAS}
    return AuditConfig(
        remind=remind,
        max_items=items,
        probe_items=probes,
        relearn=RelearnConfig() if relearn_on else None,
        surface_items=surfaces,
        gradnorm="gradnorm" in on,
        quantize_bits=tuple(b for b, key in ((8, "quantize8"), (4, "quantize")) if key in on),
        utility_items=None if "utility" in on else 0,  # 0: Real Authors and World Facts not scored
        patch_items=patched,
    )


@guarded()
def audit_sets_line(forget: str | None, retain: str | None, holdout: str | None) -> str:
    """The three sets an audit will score, shown above Run audit, with a warning where the holdout's
    source is not the forget set's."""
    line = (
        f"The audit will score forget **{forget or '—'}**, "
        f"retain **{retain if retain and retain != NONE else 'none'}** "
        f"and holdout **{holdout if holdout and holdout != NONE else 'none'}** (picked in *Model & data*)."
    )
    if not holdout or holdout == NONE:
        return line + (
            "  \n⚠️ No holdout: pick the forget set's own holdout split in *Model & data*, or press *Split a "
            "holdout from the forget set* there."
        )
    note = source_note(forget, holdout) if forget else None
    return line + (f"  \n⚠️ {note}" if note else "")


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


def _audit_views(rec: dict[str, Any], session: str) -> dict[str, Any]:
    """Every view of an audit record, by slot name (VIEWS)."""
    figs = audit_report.audit_figures(rec)
    first = _audit_item_choices(rec)[0][1]
    land, surface = _item_views(rec, first)
    html_path, json_path = _audit_files(session, rec, figs)
    return {
        "headline": "  \n".join(audit_report.summary_lines(rec)),
        "auc_table": audit_report.auc_rows(rec),
        "auc_plot": figs["Membership-inference AUCs"],
        "roc_after": figs["ROC curves after unlearning"],
        "roc_before": figs["ROC curves before unlearning"],
        "features": figs["REMIND feature distributions"],
        "scatter": figs["REMIND: the two leading features"],
        "verdicts": audit_report.verdict_rows(rec),
        "item": gr.update(choices=_audit_item_choices(rec), value=first),
        "landscape": land,
        "surface": surface,
        "tofu_table": gr.update(value=audit_report.metric_rows(rec), headers=audit_report.metric_headers(rec)),
        "tofu_plot": figs["TOFU metrics"],
        "probes": figs.get("Adversarial probes"),
        "honesty": figs["Honesty"],
        "relearn": figs.get("Relearning attack"),
        "quantization": figs.get("Quantization attack"),
        "patching": figs.get("Activation patching"),
        "patching_curves": figs.get("Activation patching per layer"),
        "html": html_path,
        "json": json_path,
    }


def progress_line(status: Any, took: str) -> str:
    """A stage report as the status line: a bar of the share done where the audit measured it."""
    fraction = getattr(status, "fraction", None)
    if fraction is None:
        return f"⏳ {status} · {took}"
    filled = round(20 * fraction)
    return f"⏳ `{'█' * filled}{'░' * (20 - filled)}` {status}"


@dataclass
class AuditForm:
    """The audit's settings as the Audit tab shows them: raw widget values, checked by audit_ui. The
    order is the API's (`/audit` takes one value per field)."""

    source: Any
    items: Any
    neighbours: Any
    p: Any
    m: Any
    probes: Any
    relearn_on: Any
    surfaces: Any
    patched: Any
    extras: Any
    retain_model: Any
    forget: Any
    retain: Any
    holdout: Any
    user_sets: Any


@guarded(len(VIEWS), 0)
@takes(AuditForm)
def audit_ui(f: AuditForm, request: gr.Request, *, server: Server):
    """Generator: the audit runs in a worker thread; its stage and item are reported as it goes."""
    try:
        STORE.require()
        if not f.holdout or f.holdout == NONE:
            raise UserError(
                "Pick a holdout set in Model & data: items of the same source as the forget set that the model "
                "never trained on (its own `:holdout` split where it has one, or press *Split a holdout from the "
                "forget set* there). Membership inference compares the forget set against it."
            )
        sets = {
            "forget": ws.resolve(f.forget, f.user_sets).examples,
            "holdout": ws.resolve(f.holdout, f.user_sets).examples,
        }
        if f.retain and f.retain != NONE:
            sets["retain"] = ws.resolve(f.retain, f.user_sets).examples
        cfg = audit_config(f.items, f.neighbours, f.p, f.m, f.probes, f.relearn_on, f.surfaces, f.extras, f.patched)
        if cfg.utility_items != 0:
            sets |= utility_sets(cfg.utility_items)
        if (f.retain_model or "").strip():
            server.access.check_model(f.retain_model.strip())
            rm = load_model(f.retain_model.strip(), device=str(STORE.require().device))
            cfg.retain_model = (rm.model, rm.tokenizer)
        if f.source and f.source != ACTIVE:
            pair.activate(f.source, server.access, user_of(request))
    except (UserError, RuntimeError, OSError) as e:
        yield slots(VIEWS, message=error_line(e))
        return
    active = STORE.active_run()
    lines = []
    if active is None:
        lines.append("No run on the model: before = after, an audit of the model as loaded (not saved to a run).")
    elif active.record.get("sets", {}).get("forget") not in (None, f.forget):
        lines.append(f"⚠️ This run forgot **{active.record['sets']['forget']}**; you are auditing **{f.forget}**.")
    note = source_note(f.forget, f.holdout)
    if note:  # said in full above Run audit and with the findings; here only that it applies
        lines.append("⚠️ Forget and holdout come from different sources: read the AUCs below with that in mind.")
    meta = {
        "sets": {"forget": f.forget, "retain": f.retain if f.retain != NONE else "", "holdout": f.holdout},
        "retain_model": (f.retain_model or "").strip() or None,
        "holdout_note": note,
    }
    key = AUDIT_KEY.format(request.session_hash)
    job = server.jobs[key] = Job(audit_job(STORE, sets, cfg, meta))
    t0, shown = time.time(), 0.0
    try:
        for ev in job.events():
            took = f"{time.time() - t0:.0f} s"
            if ev.kind == "step":
                if time.time() - shown < 1.0:  # at most one update a second: the page redraws each one
                    continue
                shown = time.time()
                yield slots(VIEWS, message="  \n".join([*lines, progress_line(ev.payload, took)]))
            elif ev.kind == "error":
                msg = (
                    f"⏹ Audit cancelled after {took}; the model is as it was and earlier audits are kept."
                    if isinstance(ev.payload, Cancelled)
                    else error_line(ev.payload)
                )
                yield slots(VIEWS, message="  \n".join([*lines, msg]))
            else:
                rec = ev.payload
                AUDITS.put(request.session_hash, rec)
                step = f", as the audit of its step {active.step}" if active and active.step is not None else ""
                saved = f" Saved beside run `{active.record['id']}`{step}." if active else ""
                done = "  \n".join([*lines, f"✅ Audit finished in {took}.{saved}"])
                yield slots(VIEWS, message=done, **_audit_views(rec, request.session_hash))
    finally:
        job.cancel()
        server.jobs.pop(key, None)


@guarded()
def audit_cancel_ui(request: gr.Request, *, server: Server) -> str:
    job = server.jobs.get(AUDIT_KEY.format(request.session_hash))
    if job is None:
        return "No audit is running."
    job.cancel()
    return "⏹ Cancelling the audit at the next item…"


@guarded(len(VIEWS), 0)
def audit_show_ui(source: str | None, request: gr.Request, *, server: Server):
    """Draw a run's saved audit (no model call)."""
    run = STORE.active_run()
    ref = (run.run_dir if run else None) if source in (None, "", ACTIVE) else source
    try:
        run_dir, step = split_ref(ref) if ref else (None, None)
        if run_dir:
            server.access.check_run(run_dir)
        rec = load_audit(Path(run_dir), step) if run_dir else None
        if rec is None:
            what = f"Step {step} of this run" if step is not None else "This run"
            return slots(VIEWS, message=f"❌ {what} has no saved audit yet: press *Run audit*.")
        views = _audit_views(rec, request.session_hash)
    except AccessDenied as e:
        return slots(VIEWS, message=error_line(e))
    except (ValueError, KeyError, TypeError, IndexError) as e:  # an audit.json of another shape
        return slots(
            VIEWS, message=f"❌ Its saved audit is damaged ({type(e).__name__}: {e}): press *Run audit* to redo it."
        )
    AUDITS.put(request.session_hash, rec)
    at = f" at step {step}" if step is not None else ""
    return slots(VIEWS, message=f"Saved audit of `{Path(run_dir).name}`{at} from {rec.get('created', '?')}.", **views)


@guarded(2, None)
def audit_item_ui(key: str | None, request: gr.Request):
    rec = AUDITS.get(request.session_hash)
    if rec is None or not key:
        return gr.skip(), gr.skip()
    return _item_views(rec, key)
