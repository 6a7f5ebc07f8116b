"""`python -m unlearn patch`: activation patching between a saved run's before and after models, item by
item (unlearn/inspection/patching.py), with each item's and the set's recovery by layer and component."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from unlearn.cli.common import emit
from unlearn.data.set_refs import load_set
from unlearn.errors import UserError
from unlearn.inspection.patching import Patching, patch_item, set_mean, set_summary
from unlearn.model.models import load_model


def _num(v: float | None) -> float | None:
    """A figure for strict JSON: NaN (an item the run left unchanged) and None as null."""
    return None if v is None or not np.isfinite(v) else round(float(v), 4)


def _by_layer(values: np.ndarray, components: tuple[str, ...], groups: tuple[str, ...]) -> dict[str, Any]:
    """(C, G, L) -> {component: {group: [L values]}}."""
    return {c: {g: [_num(v) for v in values[i, j]] for j, g in enumerate(groups)} for i, c in enumerate(components)}


def _plot(mean: Patching, folder: Path, what: str) -> list[str]:
    """The heatmap and the curves as HTML (plotly.js from the CDN) and, where Chromium is, PNG."""
    from viz.patching import patching_curves, patching_heatmap
    from viz.scaling import render_png

    folder.mkdir(parents=True, exist_ok=True)
    figs = {
        "patching_heatmap": patching_heatmap(
            mean.recovery, mean.reverse, mean.components, mean.groups, f"Activation patching: {what}"
        ),
        "patching_curves": patching_curves(
            mean.recovery, mean.components, mean.groups, mean.single, mean.cumulative, f"Per layer: {what}"
        ),
    }
    written = []
    for stem, fig in figs.items():
        fig.update_layout(width=1100, template="plotly_white")
        (folder / f"{stem}.html").write_text(fig.to_html(include_plotlyjs="cdn", full_html=True))
        written.append(str(folder / f"{stem}.html"))
        if render_png(fig, folder / f"{stem}.png"):
            written.append(str(folder / f"{stem}.png"))
    return written


def cmd_patch(a: argparse.Namespace) -> int:
    from unlearn.train.runs import apply_run, split_ref

    run_dir, step = split_ref(a.run)
    record = json.loads((Path(run_dir) / "run.json").read_text())
    name = a.set or record.get("sets", {}).get("forget")
    if not name:
        raise UserError("the run names no forget set: give --set SET")
    items = [e for e in load_set(name) if e.is_qa][: a.items]
    if not items:
        raise UserError(f"{name} has no question-answer items to patch (passages have no question)")
    lm = load_model(a.model or record["model"]["ref"], device=a.device)
    tr = apply_run(lm, Path(run_dir), step)
    started = time.perf_counter()
    done = []
    try:
        for i, ex in enumerate(items, 1):
            print(f"[{time.perf_counter() - started:5.0f} s] item {i} / {len(items)}", file=sys.stderr, flush=True)
            done.append(patch_item(lm.model, lm.tokenizer, ex, tr.reference, a.components, a.groups))
    finally:
        tr.reset()
    first = done[0]
    per_item = [
        {
            "question": ex.question,
            "logp_before": p.logp_before,
            "logp_after": p.logp_after,
            "best_layer_recovery": _num(p.best_layer_recovery()),
            "layers_for_half": _num(p.layers_for_half()),
            "recovery": _by_layer(p.recovery, p.components, p.groups),
            "reverse": _by_layer(p.reverse, p.components, p.groups),
            "layer_recovery": [_num(v) for v in p.single],
        }
        for ex, p in zip(items, done, strict=True)
    ]
    mean = set_mean(done)
    summary = {k: _num(v) if isinstance(v, float) else v for k, v in set_summary(done).items()}
    out = {
        "run_dir": run_dir,
        "step": step,
        "set": name,
        "layers": first.layers,
        "per_item": per_item,
        "recovery_mean": _by_layer(mean.recovery, first.components, first.groups),
        **summary,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if a.plot:
        what = f"{record.get('method', 'run')} run, {name}: " + (
            f"item 1 ({items[0].question[:60]})" if len(done) == 1 else f"mean of {len(done)} items"
        )
        out["plots"] = _plot(mean, Path(a.plot), what)
    emit(out, a.json)
    return 0
