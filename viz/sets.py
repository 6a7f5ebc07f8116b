"""Figures about a data set: what the model knows of it."""

from __future__ import annotations

from collections.abc import Sequence

import plotly.graph_objects as go

KNOWN = "#2a9d8f"
UNKNOWN = "#e76f51"


def knowledge_bars(labels: Sequence[str], probs: Sequence[float], known: Sequence[bool], title: str) -> go.Figure:
    """One bar per item: the answer probability P̃, green where the greedy answer was right.

    Sorted by probability, so a viewer sees at a glance how much of the set the model knows and
    whether probability and correctness agree.
    """
    if not (len(labels) == len(probs) == len(known)):
        raise ValueError("labels, probs and known must have the same length")
    order = sorted(range(len(probs)), key=lambda i: probs[i], reverse=True)
    short = [labels[i] if len(labels[i]) <= 48 else labels[i][:45] + "…" for i in order]
    fig = go.Figure(
        go.Bar(
            x=list(range(1, len(order) + 1)),
            y=[probs[i] for i in order],
            marker_color=[KNOWN if known[i] else UNKNOWN for i in order],
            customdata=[[short[k], "answered correctly" if known[i] else "not answered"] for k, i in enumerate(order)],
            hovertemplate="%{customdata[0]}<br>P̃(answer) = %{y:.3f}<br>%{customdata[1]}<extra></extra>",
        )
    )
    n_known = sum(bool(k) for k in known)
    fig.update_layout(
        # two short lines: one long line was cut off in the half-width panel of the Model & data tab
        title=dict(text=f"{title}<br><sub>{n_known} of {len(known)} answered correctly (green)</sub>", font_size=13),
        xaxis_title="items, by answer probability",
        yaxis_title="P̃(gold answer | question)",
        yaxis_range=[0, 1],
        height=320,
        margin=dict(l=60, r=20, t=60, b=50),
        template="plotly_white",
    )
    return fig
