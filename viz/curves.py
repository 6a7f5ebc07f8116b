"""Training curves of an unlearning run, drawn live while it runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

# keys of a history row that are bookkeeping, not losses
_NOT_LOSSES = {"step", "lr", "seconds", "grad_norm", "forget_prob", "retain_prob"}
FORGET_COLOUR, RETAIN_COLOUR = "#e76f51", "#2a9d8f"


def prob_line(pts: Sequence[tuple[int, float]], label: str, colour: str, **kwargs: Any) -> go.Scatter:
    """One set's P̃ per step, (step, P̃) points, as a thick line in its set's colour."""
    return go.Scatter(
        x=[p[0] for p in pts],
        y=[p[1] for p in pts],
        name=label,
        mode="lines+markers",
        line=dict(color=colour, width=3),
        **kwargs,
    )


def run_curves(history: Sequence[dict[str, Any]], title: str = "", total_steps: int | None = None) -> go.Figure:
    """Left: every loss term the method logs, per step. Right: forget and retain answer
    probability (live sample), per step, on a log scale — forgetting is a fall by orders of magnitude."""
    # an optimizer-free edit (U-CAN, ModHiFi-U, K-FADE) is one "step" at lr 0 whose logs are counts and
    # statistics, not loss terms: show them as bars (log scale, they span orders of magnitude)
    edit = len(history) == 1 and history[0].get("lr") == 0
    left = "what the edit reported (log scale)" if edit else "loss terms"
    fig = make_subplots(rows=1, cols=2, subplot_titles=(left, "answer probability P̃ (live sample)"))
    steps = [h["step"] for h in history]
    keys = [k for k in (history[0] if history else {}) if k not in _NOT_LOSSES]
    if edit:
        shown = [k for k in keys if isinstance(history[0][k], int | float) and history[0][k] > 0]
        fig.add_trace(go.Bar(x=shown, y=[history[0][k] for k in shown], name="edit", showlegend=False), 1, 1)
        fig.update_yaxes(type="log", row=1, col=1)
    for k in [] if edit else keys:
        fig.add_trace(go.Scatter(x=steps, y=[h.get(k) for h in history], name=k, mode="lines+markers"), 1, 1)
    for k, colour, label in (
        ("forget_prob", FORGET_COLOUR, "forget"),
        ("retain_prob", RETAIN_COLOUR, "retain (held out)"),
    ):
        pts = [(h["step"], h[k]) for h in history if h.get(k) is not None]
        if pts:
            fig.add_trace(prob_line(pts, label, colour), 1, 2)
    fig.update_yaxes(type="log", row=1, col=2)
    if total_steps:
        fig.update_xaxes(range=[0.5, total_steps + 0.5], col=2)
        if not edit:
            fig.update_xaxes(range=[0.5, total_steps + 0.5], col=1)
    fig.update_xaxes(title_text="step", col=2)
    if not edit:
        fig.update_xaxes(title_text="step", col=1)
    fig.update_layout(title=title, height=360, template="plotly_white", margin=dict(l=50, r=20, t=60, b=40))
    return fig
