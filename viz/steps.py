"""One run along its steps: forget and held-out retain P̃ per step, the steps it kept (which can be
compared and audited) and where a stop rule ended it, so a user can pick the best step as the papers
do. Arrays in, a Plotly figure out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from .curves import FORGET_COLOUR, RETAIN_COLOUR, prob_line


def _log_range(values: Sequence[float]) -> list[float] | None:
    """A log axis around the values drawn (log10 units, a little margin), not around the annotations."""
    pos = [v for v in values if v and v > 0]
    if not pos:
        return None
    return [math.log10(min(pos)) - 0.15, math.log10(max(pos)) + 0.15]


def steps_figure(record: dict[str, Any], history: Sequence[dict[str, Any]]) -> go.Figure:
    """Forget and retain P̃ against steps from a run's record and history; diamonds at kept steps,
    dotted lines at the stop rule's thresholds, a marker where it stopped."""
    spec, m = record.get("spec", {}), record.get("metrics", {})
    whole = spec.get("stop_forget") is not None or spec.get("keep_retain") is not None
    kept = set(record.get("checkpoints", []))
    fig = go.Figure()
    values: list[float] = []  # every P̃ drawn, for a log axis that fits them
    for key, colour, label in (("forget", FORGET_COLOUR, "forget"), ("retain", RETAIN_COLOUR, "retain (held out)")):
        pts = [(h["step"], h[f"{key}_prob"]) for h in history if h.get(f"{key}_prob") is not None]
        if whole and m.get(f"{key}_prob_before") is not None:
            pts = [(0, m[f"{key}_prob_before"]), *pts]  # the rule measures the whole sets, as "before" was
        if not pts:
            continue
        values += [p[1] for p in pts]
        marker = dict(
            symbol=["diamond" if p[0] in kept else "circle" for p in pts],
            size=[13 if p[0] in kept else 6 for p in pts],
        )
        hover = "step %{x}: P̃ %{y:.4g}<extra>" + label + "</extra>"
        fig.add_trace(prob_line(pts, label, colour, marker=marker, hovertemplate=hover))
    for key, share in (("forget", spec.get("stop_forget")), ("retain", spec.get("keep_retain"))):
        before = m.get(f"{key}_prob_before")
        if share and before:
            values.append(share * before)
            fig.add_hline(
                y=share * before,
                line_dash="dot",
                line_color=FORGET_COLOUR if key == "forget" else RETAIN_COLOUR,
                annotation_text=f"stop rule: {share:g} × {key} before",
                annotation_position="bottom left",
            )
    stop = record.get("stop")
    if stop:
        what = "undone" if stop.get("undone") else "stopped"
        label = f"step {stop['step']} {what} ({stop['rule']})"
        fig.add_vline(x=stop["step"], line_dash="dash", line_color="#666", annotation_text=label)
    sample = "the whole sets (stop rule)" if whole else f"a live sample of {spec.get('eval_items', 8)} items a set"
    kept_text = f"; ◆ kept steps {', '.join(map(str, sorted(kept)))}" if kept else "; no steps kept"
    fig.update_layout(
        title=f"{record.get('id', '')}: P̃ per step, on {sample}{kept_text}",
        xaxis=dict(title="step", dtick=1 if len(history) <= 20 else None),
        yaxis=dict(title="P̃ (log)", type="log", range=_log_range(values)),
        height=360,
        template="plotly_white",
        margin=dict(l=60, r=20, t=60, b=50),
    )
    return fig
