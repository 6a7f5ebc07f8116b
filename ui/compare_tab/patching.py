"""Compare tab, activation patching on the compared item (unlearn/inspection/patching.py): the button's
handler, its worker and its figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import gradio as gr
import plotly.graph_objects as go

from ui.common import error_line, guarded, user_of
from ui.compare_tab.handlers import _same_run, _session_result
from unlearn.errors import UserError
from unlearn.inspection.compare import MAX_TOKENS
from unlearn.inspection.patching import Patching, patch_item
from unlearn.inspection.streaming import Emit, in_thread
from unlearn.model import pair
from unlearn.serve.server import Server
from unlearn.serve.store import STORE
from viz.patching import patching_curves, patching_heatmap, patching_summary

# what a press costs, as the page says it (measured on the bundled model, 2 CPU cores: docs/guide.md)
PATCH_ROWS_NOTE = "600 patched forward rows for 30 layers, about a minute for a 135M model on 2 CPU cores"


def patching_figures(p: Patching) -> dict[str, go.Figure]:
    """The item's heatmap and curves, by their export names."""
    return {
        "Activation patching": patching_heatmap(p.recovery, p.reverse, p.components, p.groups),
        "Activation patching: per layer": patching_curves(p.recovery, p.components, p.groups, p.single, p.cumulative),
    }


def _patching_work(got: dict[str, Any], server: Server, user: str | None) -> Callable[[Emit], Patching]:
    """Both directions of patching for the compared item, in a worker thread holding the model lock;
    emits (rows done, rows in all) as it goes."""

    def work(emit: Emit) -> Patching:
        with STORE.lock:
            lm = STORE.require()
            _same_run(got)
            p = pair.pick(got["source"], server.access, user)
            with p.after():
                return patch_item(
                    lm.model,
                    lm.tokenizer,
                    got["c"].example,
                    p.reference,
                    max_tokens=MAX_TOKENS,
                    progress=lambda done, total: emit((done, total), partial=True),
                )

    return work


@guarded(3, 0)
def patching_ui(request: gr.Request, *, server: Server):
    """Activation patching on the compared item (unlearn/inspection/patching.py): a progress line while
    the patched forwards run, then the heatmap, the per-layer curves and the one-line summary."""
    try:
        got = _session_result(request)
        if not got["c"].has_run:
            raise UserError("Before and after are the same model here: pick a run in 'After =' and press Compare.")
    except (UserError, ValueError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    yield "⏳ Patching every layer's residual stream, attention and MLP output, both ways…", gr.skip(), gr.skip()
    started = time.perf_counter()
    try:
        with closing(in_thread(_patching_work(got, server, user_of(request)))) as events:
            for what, value in events:
                if what == "partial":
                    done, total = value
                    note = f"⏳ Patched forwards: {done} / {total} rows ({time.perf_counter() - started:.0f} s)"
                    yield note, gr.skip(), gr.skip()
                else:
                    p = value
    except (UserError, RuntimeError, ValueError) as e:
        yield error_line(e), gr.skip(), gr.skip()
        return
    figs = patching_figures(p)
    got.setdefault("later", {}).update(figs)
    seconds = time.perf_counter() - started
    note = f"{patching_summary(p.best_layer_recovery(), p.layers_for_half(), p.layers)} ({seconds:.0f} s)"
    heat, curves = figs.values()
    yield note, heat, curves
