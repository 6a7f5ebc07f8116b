"""Runs tab, layout and wiring: every saved run with its audit headline; open, export, delete, import."""

from __future__ import annotations

import gradio as gr

from ui.common import MODEL_Q
from ui.forms import bind
from ui.import_pair import import_row
from ui.runs_tab.handlers import (
    EXPORT_FORMATS,
    export_model_ui,
    run_steps_ui,
    runs_delete_ui,
    runs_export_ui,
    runs_view_ui,
)
from ui.runs_tab.side_by_side import add_to_side, side_by_side_ui, side_items_ui
from ui.shared import load_run_ui, run_choices
from unlearn.serve.server import Server
from viz.runs import RUNS_HEADERS
from viz.runs_side import SIDE_HEADERS


def build(server: Server) -> None:
    """The tab: it reads saved runs from disk, nothing from the other tabs."""
    with gr.Tab("Runs", id="runs") as runs_tab:
        gr.Markdown(
            "Every saved run, newest first, with its audit's headline where it was audited. *Open* puts a "
            "run's weights on the model (its *after*) for Compare and Audit; *Export* writes one "
            "self-contained HTML report (settings, curves, audit) and the same as JSON data; *Export the "
            "model* writes the after model as a standard folder for transformers, vLLM or "
            "lm-evaluation-harness (`python -m unlearn export` on the command line). A checkpoint unlearned "
            "elsewhere comes in as a pair below."
        )
        runs_table = gr.Dataframe(
            headers=RUNS_HEADERS,
            wrap=True,
            elem_id="runs-table",
            label="Saved runs (AUCs: forget vs holdout; — = not audited)",
            column_widths=["14%", "8%", "7%", "13%", "5%", "11%", "11%", "7%", "7%", "7%", "10%"],
        )
        runs_plot = gr.Plot(elem_id="plot-runs", show_label=False)
        with gr.Row():
            runs_pick = gr.Dropdown(run_choices(), label="Run", scale=4)
            runs_refresh = gr.Button("Refresh", scale=1)
            runs_open = gr.Button("Open", scale=1)
            runs_export = gr.Button("Export", scale=1)
            runs_delete = gr.Button("Delete", variant="stop", scale=1)
            runs_side_add = gr.Button("Add to side by side", scale=1, elem_id="side-add")
        runs_msg = gr.Markdown(elem_id="runs-status")
        with gr.Row():
            runs_format = gr.Radio(
                list(EXPORT_FORMATS), value=next(iter(EXPORT_FORMATS)), label="Export the model as", scale=3
            )
            runs_model_btn = gr.Button("Export the model", scale=1, elem_id="export-model-btn")
            runs_model = gr.DownloadButton("Download the model (zip)", scale=1, elem_id="export-model")
        runs_model_msg = gr.Markdown(elem_id="export-model-msg")
        import_row("runs", server, runs_view_ui, [runs_table, runs_plot, runs_pick], api_name="import_pair")
        runs_steps = gr.Plot(elem_id="plot-run-steps", show_label=False, visible=False)
        runs_steps_note = gr.Markdown(elem_id="run-steps-note")
        with gr.Row():
            runs_html = gr.DownloadButton("Download the run's report (HTML)", elem_id="runs-html")
            runs_json = gr.DownloadButton("Download the run's data (JSON)", elem_id="runs-json")
        gr.Markdown(
            "#### Runs side by side: which method did better on the same item\nPick 2 to 6 runs (here, or the "
            "run in *Run* above with *Add to side by side*, after finding it in the table and the scatter) and "
            "one item: each model's greedy answer, the gold answer's token probabilities, and the next-token "
            "candidates where it fell most under any run."
        )
        with gr.Row():
            side_runs = gr.Dropdown(
                run_choices(), multiselect=True, max_choices=6, label="Runs (2 to 6)", scale=4, elem_id="side-runs"
            )
            side_item = gr.Dropdown([], label="Item", scale=4, elem_id="side-item")
            side_new = gr.Slider(4, 64, value=32, step=4, label="Max new tokens", scale=2)
            side_btn = gr.Button("Side by side", scale=1, elem_id="side-btn")
        side_note = gr.Markdown(elem_id="side-note")
        side_table = gr.Dataframe(
            headers=SIDE_HEADERS,
            wrap=True,
            elem_id="side-table",
            label="One row per model",
            column_widths=["17%", "39%", "14%", "14%", "16%"],
        )
        side_strips = gr.Plot(elem_id="plot-side-strips", show_label=False)
        side_topk = gr.Plot(elem_id="plot-side-topk", show_label=False)

    runs_views = [runs_table, runs_plot, runs_pick]
    runs_tab.select(runs_view_ui, None, runs_views, show_progress="hidden").then(
        lambda: gr.update(choices=run_choices()), None, side_runs, show_progress="hidden"
    )
    side_runs.change(bind(side_items_ui, server), side_runs, [side_item, side_note], api_name="side_items")
    runs_side_add.click(add_to_side, [runs_pick, side_runs], side_runs, show_progress="hidden")
    side_btn.click(
        bind(side_by_side_ui, server),
        [side_runs, side_item, side_new],
        [side_note, side_table, side_strips, side_topk],
        api_name="side_by_side",
        **MODEL_Q,
    )
    runs_refresh.click(runs_view_ui, None, runs_views, api_name="runs")
    runs_open.click(bind(load_run_ui, server), runs_pick, runs_msg, api_name="open_run", **MODEL_Q)
    runs_delete.click(
        bind(runs_delete_ui, server), runs_pick, [runs_msg, *runs_views], api_name="runs_delete", **MODEL_Q
    )
    runs_export.click(bind(runs_export_ui, server), runs_pick, [runs_msg, runs_html, runs_json], api_name="export_run")
    runs_pick.change(bind(run_steps_ui, server), runs_pick, [runs_steps, runs_steps_note], api_name="run_steps")
    runs_model_btn.click(
        bind(export_model_ui, server),
        [runs_pick, runs_format],
        [runs_model_msg, runs_model],
        api_name="export_model",
        **MODEL_Q,
    )
