"""How cost grows (issue 19): each measured curve on log-log axes with its fitted power law t = a·x^b.

A straight line on log-log axes is a power law, and its slope is the exponent b: 1 is linear, 2
quadratic, below 1 a cost with a fixed part that the growing part has not yet outgrown. The grey
dotted line in each panel has slope 1 through the first point, so a curve that climbs away from it
grows worse than linearly. Plain dicts in, Plotly figures out; the PNG is drawn by headless Chromium
(no kaleido), which is optional: without it only the HTML is written.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

CHROMIUM = "/usr/bin/chromium"
COLS = 3
PANEL_W, PANEL_H = 440, 340  # pixels per panel in the PNG
MEASURED, FITTED, LINEAR = "#1f77b4", "#d62728", "#999999"


def fit_power(x: Sequence[float], seconds: Sequence[float]) -> tuple[float, float]:
    """(a, b) of t = a·x^b by least squares on log t = log a + b·log x (each point weighs alike,
    whatever its size, which is what comparing growth rates wants).

    >>> a, b = fit_power([1, 2, 4, 8], [3, 12, 48, 192])  # 3·x²
    >>> round(a, 6), round(b, 6)
    (3.0, 2.0)
    """
    if len(x) < 2 or len(x) != len(seconds):
        raise ValueError(f"a power law needs at least two (x, seconds) points, got {len(x)} x and {len(seconds)} t")
    lx, lt = np.log(np.asarray(x, float)), np.log(np.asarray(seconds, float))
    b, log_a = np.polyfit(lx, lt, 1)
    return float(math.exp(log_a)), float(b)


FINE = (1, 1.5, 2, 3, 4, 5, 6, 7, 8)  # round mantissas, finest first used to pad an axis


def _round_values(lo: float, hi: float, mantissas: Sequence[float]) -> list[float]:
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    return [round(m * 10**e, 12) for e in decades for m in mantissas if lo <= round(m * 10**e, 12) <= hi]


def log_axis(lo: float, hi: float) -> tuple[list[float], list[float]]:
    """(ticks, range in log10 units) for a log axis showing `lo` to `hi`: the range is widened to the
    round values just outside (1, 1.5, 2, 3 ... 8 × 10^k), so both ends are labelled, and the ticks
    are 1, 2, 5 × 10^k, or finer where that leaves fewer than three. Plotly's own log ticks shorten
    the in-between labels to one digit ("2" for 200), which reads wrongly on a short axis.

    >>> log_axis(5.5, 30)[0], log_axis(45, 130)[0], log_axis(22.9, 94)[0]
    ([5, 10, 20, 30], [40, 50, 60, 70, 80, 100, 150], [20, 50, 100])
    """
    below = [v for v in _round_values(lo / 10, lo, FINE) if v <= lo]
    above = [v for v in _round_values(hi, hi * 10, FINE) if v >= hi]
    lo, hi = below[-1], above[0]
    ticks: list[float] = []
    for mantissas in ((1, 2, 5), FINE):
        ticks = _round_values(lo, hi, mantissas)
        if len(ticks) >= 3:
            break
    ticks = sorted({*ticks, lo, hi})  # the ends are round values too: label them
    span = [math.log10(lo) - 0.02, math.log10(hi) + 0.02]  # a little room for the end markers
    return [int(t) if t == int(t) else t for t in ticks], span


def _title(name: str, curve: dict[str, Any]) -> str:
    return f"{curve.get('title', name)} vs {curve['x_label']}<br><b>fitted exponent b = {curve['exponent']:.2f}</b>"


def scaling_figure(result: dict[str, Any]) -> go.Figure:
    """One log-log panel per curve of `result["curves"]` ({name: {x, seconds, x_label, exponent,
    title?}}): the measured points, the fitted power law and a slope-1 guide."""
    curves = result["curves"]
    rows = max(1, math.ceil(len(curves) / COLS))
    cols = max(1, math.ceil(len(curves) / rows))  # 4 curves: 2 × 2, not 3 + 1 and two empty panels
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[_title(n, c) for n, c in curves.items()],
        horizontal_spacing=0.09,
        vertical_spacing=0.2,
    )
    for i, (name, c) in enumerate(curves.items()):
        row, col = i // cols + 1, i % cols + 1
        x, t = np.asarray(c["x"], float), np.asarray(c["seconds"], float)
        a, b = fit_power(x, t)
        grid = np.geomspace(x.min(), x.max(), 50)
        first = i == 0  # one legend entry per kind of line, not one per panel
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=t[0] * grid / x[0],
                mode="lines",
                line=dict(color=LINEAR, dash="dot", width=1.5),
                name="linear (slope 1) from the first point",
                legendgroup="linear",
                showlegend=first,
                hoverinfo="skip",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=a * grid**b,
                mode="lines",
                line=dict(color=FITTED, width=2),
                name="fitted t = a·x^b (b in each title)",
                legendgroup="fit",
                showlegend=first,
                hovertemplate=f"t = {a:.3g}·x^{b:.2f}<extra>{name}</extra>",
            ),
            row=row,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=t,
                mode="markers",
                marker=dict(color=MEASURED, size=9),
                name="measured",
                legendgroup="measured",
                showlegend=first,
                hovertemplate="x %{x}: %{y:.3g} s<extra>" + name + "</extra>",
            ),
            row=row,
            col=col,
        )
        drawn = np.concatenate([t, a * grid**b, t[0] * grid / x[0]])  # every y on the panel
        y_ticks, y_range = log_axis(drawn.min(), drawn.max())
        fig.update_xaxes(
            type="log", title_text=c["x_label"], tickvals=list(x), ticktext=[f"{v:g}" for v in x], row=row, col=col
        )
        fig.update_yaxes(
            type="log",
            title_text="seconds",
            tickvals=y_ticks,
            ticktext=[f"{v:g}" for v in y_ticks],
            range=y_range,
            row=row,
            col=col,
        )
    where = f"{result.get('model', '')} on {result.get('device', '')}"
    where += " (quick sizes)" if result.get("quick") else ""
    where += f"<br><sub>seconds: {result['clock']}</sub>" if result.get("clock") else ""
    fig.update_layout(
        title=dict(text=f"How cost grows: {where}", x=0.5, y=0.985, yanchor="top"),  # above the panel titles
        width=PANEL_W * cols,
        height=PANEL_H * rows + 150,
        template="plotly_white",
        legend=dict(orientation="h", yanchor="top", y=-0.12, xanchor="center", x=0.5),
        margin=dict(t=150, b=90, l=60, r=30),  # the two title lines clear of the panels' titles
    )
    fig.update_annotations(font_size=13)  # the subplot titles
    return fig


def render_png(fig: go.Figure, path: Path, scale: float = 2.0) -> bool:
    """Screenshot `fig` in headless Chromium (Playwright) into `path`; False where either is missing.
    Plotly's own PNG export needs kaleido, which this project does not install."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return False
    if not Path(CHROMIUM).exists():
        return False
    width, height = int(fig.layout.width or 1200), int(fig.layout.height or 800)
    with tempfile.TemporaryDirectory(prefix="unlearn-png-") as tmp:
        page_file = Path(tmp) / "figure.html"
        # plotly.js inline: the page must draw without the network, which headless Chromium may lack
        page_file.write_text(fig.to_html(include_plotlyjs=True, full_html=True, config={"staticPlot": True}))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            try:
                view = {"width": width + 40, "height": height + 40}
                page = browser.new_page(viewport=view, device_scale_factor=scale)
                page.goto(page_file.as_uri())
                page.wait_for_selector(".plotly-graph-div .main-svg")
                page.locator(".plotly-graph-div").first.screenshot(path=str(path))
            finally:
                browser.close()
    return True


def write_scaling(result: dict[str, Any], folder: Path, log: Callable[[str], None] = print) -> dict[str, str]:
    """scaling.html (plotly.js from the CDN, so the committed file stays small) and scaling.png in
    `folder`; returns {"html": path, "png": path} for what was written."""
    folder.mkdir(parents=True, exist_ok=True)
    fig = scaling_figure(result)
    html_path, png_path = folder / "scaling.html", folder / "scaling.png"
    html_path.write_text(fig.to_html(include_plotlyjs="cdn", full_html=True, div_id="scaling"))  # same run, same file
    written = {"html": str(html_path)}
    if render_png(fig, png_path):
        written["png"] = str(png_path)
    else:
        log(f"no PNG: Playwright or Chromium ({CHROMIUM}) is missing; wrote only {html_path}")
    return written
