"""Audit bar charts and curves from plain numbers: AUCs, before/after metric groups, relearning."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .audit_text import quantized_bits
from .tokens import AFTER_COLOUR, BEFORE_COLOUR


def _none_to_nan(values: Sequence[float | None]) -> list[float]:
    return [float("nan") if v is None else float(v) for v in values]


def before_after_bars(
    groups: Mapping[str, tuple[float | None, float | None]],
    title: str,
    yaxis: str,
    y_range: tuple[float, float] | None = (0, 1),
    reference: float | None = None,
    reference_name: str = "",
) -> go.Figure:
    """Grouped bars, one group per name: (before, after). A missing value is left out, not drawn as 0."""
    names = list(groups)
    fig = go.Figure()
    for i, (side, colour) in enumerate((("before", BEFORE_COLOUR), ("after", AFTER_COLOUR))):
        values = _none_to_nan([groups[n][i] for n in names])
        fig.add_trace(
            go.Bar(
                x=names,
                y=values,
                name=side,
                marker_color=colour,
                text=[f"{v:.2f}" if np.isfinite(v) else "n/a" for v in values],
                textposition="outside",
            )
        )
    if reference is not None:
        fig.add_hline(y=reference, line_dash="dot", line_color="#999", annotation_text=reference_name)
    fig.update_layout(
        title=title,
        barmode="group",
        yaxis=dict(title=yaxis, range=list(y_range) if y_range else None),
        height=360,
        margin=dict(l=60, r=20, t=60, b=80),
        legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"),
    )
    return fig


def relearn_curve(per_step: Sequence[float], before: float, unlearned: float, measured: int) -> go.Figure:
    """Forget-set probability on the held-out forget items after each relearning step, between the
    model before the run (top line) and right after it (step 0)."""
    steps = list(range(len(per_step)))
    fig = go.Figure(
        go.Scatter(x=steps, y=list(per_step), mode="lines+markers", name="relearned model", line=dict(color="#6a4c93"))
    )
    fig.add_hline(y=before, line_dash="dot", line_color=BEFORE_COLOUR, annotation_text="before the run")
    fig.add_hline(y=unlearned, line_dash="dot", line_color=AFTER_COLOUR, annotation_text="after the run")
    gap = before - unlearned
    recovery = (per_step[-1] - unlearned) / gap if abs(gap) > 1e-12 else float("nan")
    fig.update_layout(
        title=f"Relearning attack: P̃ on {measured} forget items never relearned (recovery {recovery:.2f})",
        xaxis=dict(title="relearning step", dtick=1),
        yaxis=dict(title="P̃ (length-normalised answer probability)"),
        height=340,
        margin=dict(l=60, r=20, t=60, b=50),
    )
    return fig


def quantization_figure(summary: dict) -> go.Figure | None:
    """Forget-set P̃, ROUGE-L and keyword hits of the model before, after, and after quantized to 8 and
    4 bits (and the retain set's P̃ at each, to show quantization's own cost); None if not measured."""
    bits = quantized_bits(summary)
    if not bits:
        return None
    figures = {"prob": "forget P̃", "rouge_l": "forget ROUGE-L", "keyword_hit": "forget keyword hits"}
    models = [("before the run", "quantization_forget_{}_before", BEFORE_COLOUR)]
    models += [("after the run", "quantization_forget_{}_after", AFTER_COLOUR)]
    shades = ["#9b5de5", "#6a4c93", "#3c096c", "#c77dff"]  # one per bit width, widest first
    models += [(f"after, {b}-bit", f"quantization_{b}bit_forget_{{}}", shades[i % 4]) for i, b in enumerate(bits)]
    fig = go.Figure()
    for name, key, colour in models:
        values = _none_to_nan([summary.get(key.format(f)) for f in figures])
        fig.add_trace(
            go.Bar(
                x=list(figures.values()),
                y=values,
                name=name,
                marker_color=colour,
                text=[f"{v:.2f}" if np.isfinite(v) else "n/a" for v in values],
                textposition="outside",
            )
        )
    values = {b: _recovery_text(summary.get(f"quantization_recovery_{b}bit")) for b in bits}
    rec = "recovery " + ", ".join(f"{b}-bit {v}" for b, v in values.items())
    fig.update_layout(
        title=f"Quantization attack (RTN, arXiv 2410.16454)<br><sup>did the forget set come back? {rec}</sup>",
        barmode="group",
        yaxis=dict(title="value", range=[0, 1.1]),
        height=400,
        margin=dict(l=60, r=20, t=70, b=70),
        legend=dict(orientation="h", y=-0.12, x=0.5, xanchor="center", yanchor="top"),  # the title has two lines
    )
    return fig


def _recovery_text(v: float | None) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"
