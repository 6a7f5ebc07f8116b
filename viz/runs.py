"""The Runs tab from plain rows (unlearn/serve/runs_overview.py): a table, a forget-vs-utility scatter and
one run's self-contained report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from .audit_report import report_notes, report_sections
from .audit_text import headline, utility_line
from .curves import run_curves
from .export import page_html, table_html

RUNS_HEADERS = [
    "run",
    "method",
    "status",
    "forget set",
    "steps",
    "forget P̃ before → after",
    "retain P̃ before → after",
    "REMIND AUC",
    "Min-K%++ AUC",
    "LOSS AUC",
    "model utility (TOFU)",
]


def _f(v: Any, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def utility_cell(r: dict[str, Any]) -> str:
    """TOFU's model utility where all nine parts were measured, else the retain utility, marked so."""
    if r.get("model_utility_after") is not None:
        return _f(r["model_utility_after"], 2)
    if r.get("retain_utility_after") is not None:
        return f"{_f(r['retain_utility_after'], 2)} (retain, {r.get('utility_n_parts') or 3} of 9 parts)"
    return "—"


def runs_rows(rows: Sequence[dict[str, Any]]) -> list[list[Any]]:
    """Table rows; "—" where a run was not audited (or a figure could not be computed)."""
    return [
        [
            r["id"],
            r["method"],
            r["status"],
            r["forget_set"],
            r["steps"],
            f"{_f(r['forget_prob_before'], 4)} → {_f(r['forget_prob_after'], 4)}",
            f"{_f(r['retain_prob_before'], 4)} → {_f(r['retain_prob_after'], 4)}",
            _f(r["remind_auc"], 2),
            _f(r["mink_pp_auc_after"], 2),
            _f(r["loss_auc_after"], 2),
            utility_cell(r),
        ]
        for r in rows
    ]


def runs_scatter(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Each run at (forget P̃ after / before, retain P̃ after / before): bottom right forgot most and kept
    most. Both as ratios to the run's own before, so runs on different sets share the axes."""
    fig = go.Figure()
    by_method: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r["forget_prob_before"] and r["retain_prob_before"] and r["forget_prob_after"] is not None:
            by_method.setdefault(r["method"], []).append(r)
    for method, rs in sorted(by_method.items()):
        fig.add_trace(
            go.Scatter(
                x=[r["forget_prob_after"] / r["forget_prob_before"] for r in rs],
                y=[r["retain_prob_after"] / r["retain_prob_before"] for r in rs],
                mode="markers",
                name=method,
                marker=dict(size=[14 if r["audited"] else 9 for r in rs], line=dict(width=1, color="white")),
                text=[r["id"] + (f" · REMIND AUC {r['remind_auc']:.2f}" if r["remind_auc"] else "") for r in rs],
                hovertemplate="%{text}<br>forget kept %{x:.3g}, retain kept %{y:.3g}<extra></extra>",
            )
        )
    fig.add_hline(y=1, line_dash="dot", line_color="#999")
    fig.update_layout(
        title="Forget vs utility across runs (after / before; big markers: audited)",
        xaxis=dict(title="forget P̃ kept (after / before, log; lower = forgot more)", type="log"),
        yaxis=dict(title="retain P̃ kept (after / before; 1 = untouched)"),
        height=420,
        margin=dict(l=60, r=20, t=60, b=60),
    )
    if not by_method:
        fig.add_annotation(text="No finished runs yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    return fig


def run_card(record: dict[str, Any], audit: dict[str, Any] | None) -> str:
    """A saved run's page in Markdown: what it was, its settings, before → after and its audit's headline
    (the figures are the steps plot beside it; everything downloads with *Export*)."""
    m = record.get("metrics", {})
    sets = ", ".join(f"{k} **{v}**" for k, v in record.get("sets", {}).items() if v)
    lines = [
        f"**{record.get('id')}**: {record.get('method')} on {record.get('model', {}).get('name', '?')} "
        f"({record.get('trainable')}), {sets}; {record.get('status')} after {record.get('steps')} steps in "
        f"{record.get('seconds')} s, {record.get('created')}."
    ]
    ba = [
        f"{s} P̃ {_f(m.get(f'{s}_prob_before'))} → {_f(m.get(f'{s}_prob_after'))}"
        for s in ("forget", "retain")
        if m.get(f"{s}_prob_before") is not None
    ]
    lines += ["; ".join(ba)] if ba else []
    settings = {**record.get("spec", {}), **record.get("hparams", {})}
    shown = ", ".join(f"{k} {v}" for k, v in settings.items() if not isinstance(v, (dict, list)) and v is not None)
    lines.append(f"Settings: {shown}.")
    if audit is None:
        lines.append("Not audited yet (the Audit tab, or `python -m unlearn audit --run DIR`).")
    else:
        lines += [f"Audit ({audit.get('created', '?')}): {headline(audit)}", utility_line(audit)]
    return "  \n".join(lines)


def run_report_html(record: dict[str, Any], history: Sequence[dict[str, Any]], audit: dict[str, Any] | None) -> str:
    """One run, self-contained: its settings, curves, before/after and, if audited, the whole audit."""
    m = record.get("metrics", {})
    settings = [[k, v] for k, v in {**record.get("spec", {}), **record.get("hparams", {})}.items()]
    ba = [
        [s, _f(m.get(f"{s}_prob_before"), 4), _f(m.get(f"{s}_prob_after"), 4)]
        for s in ("forget", "retain")
        if m.get(f"{s}_prob_before") is not None
    ]
    notes = [
        f"{record.get('method')} on {record.get('model', {}).get('name', '?')}; sets {record.get('sets', {})}; "
        f"{record.get('status')} after {record.get('steps')} steps in {record.get('seconds')} s "
        f"({record.get('created')})."
    ]
    sections: list[tuple[str, Any]] = [
        ("Settings", table_html(["setting", "value"], settings)),
        ("Before | after (length-normalised answer probability)", table_html(["set", "P̃ before", "P̃ after"], ba)),
        ("Curves", run_curves(history, record.get("id", ""))),
    ]
    if audit is not None:
        notes += report_notes(audit)
        sections += report_sections(audit)
    else:
        notes.append("Not audited: run the Audit tab (or `python -m unlearn audit --run DIR`) to add the audit.")
    return page_html(f"Unlearning run {record.get('id')}", sections, notes)
