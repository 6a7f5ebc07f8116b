"""Unlearn tab, layout and wiring: method, settings, run with live curves, undo, ask both, saved runs."""

from __future__ import annotations

import gradio as gr

from ui import widgets
from ui.common import MODEL_Q
from ui.forms import bind, inputs
from ui.shared import Picks, delete_run_ui, load_run_ui, refresh_runs, run_choices
from ui.unlearn_tab.handlers import (
    MODE_LABELS,
    PRESET_LABELS,
    RunForm,
    ask_both_ui,
    cancel_ui,
    method_choices,
    mode_for,
    on_method,
    reset_ui,
    run_ui,
    unlearn_sets_line,
)
from unlearn.serve.server import Server
from unlearn.train.engine import RunSpec
from unlearn.train.loop import LoopConfig


def build(demo: gr.Blocks, picks: Picks, server: Server) -> None:
    """The tab: the run reads the sets picked in Model & data (`picks`)."""
    with gr.Tab("Unlearn", id="unlearn"):
        first = "npo"
        card0, rows0, lr0 = on_method(first, list(PRESET_LABELS)[0])
        with gr.Row():
            method = gr.Dropdown(method_choices(), value=first, label="Method", scale=2)
            preset = gr.Radio(list(PRESET_LABELS), value=list(PRESET_LABELS)[0], label="Defaults", scale=2)
            mode = gr.Radio(list(MODE_LABELS), value=mode_for(first), label="Parameters trained", scale=2)
        mcard = gr.Markdown(card0, elem_id="method-card")
        hp_table = gr.Dataframe(
            value=rows0,
            headers=["hyperparameter", "value", "quick demo", "paper", "meaning"],
            interactive=True,
            label="Hyperparameters (edit the value column)",
            elem_id="hp-table",
        )
        with gr.Row():  # each widget from its setting's declaration, like the command line's flags
            steps = widgets.number(LoopConfig, "steps")
            lr = widgets.number(LoopConfig, "lr", value=lr0)
            batch_size = widgets.number(LoopConfig, "batch_size")
            grad_accum = widgets.number(LoopConfig, "grad_accum")
        with gr.Accordion("More loop settings", open=False):
            with gr.Row():
                max_length = widgets.number(LoopConfig, "max_length")
                warmup = widgets.number(LoopConfig, "warmup")
                seed = widgets.number(LoopConfig, "seed")
                lora_r = widgets.number(RunSpec, "lora_r")
                low_memory = widgets.checkbox(RunSpec, "low_memory")
        with gr.Accordion("Options for any gradient method: GU projection, coreset, MELU", open=False):
            with gr.Row():
                gu_k = widgets.number(RunSpec, "project_retain")
                coreset_share = widgets.slider(RunSpec, "coreset", step=0.05)
                coreset_mode = widgets.radio(RunSpec, "coreset_mode")
                melu = widgets.checkbox(RunSpec, "melu")
        with gr.Accordion("Stop rule and saved steps: end where forget and retain say so", open=False):
            with gr.Row():
                stop_forget = widgets.number(RunSpec, "stop_forget", elem_id="stop-forget")
                keep_retain = widgets.number(RunSpec, "keep_retain", elem_id="keep-retain")
                save_every = widgets.number(RunSpec, "save_every", elem_id="save-every")
        unlearn_sets = gr.Markdown(elem_id="unlearn-sets")
        with gr.Row():
            run_btn = gr.Button("Run", variant="primary", elem_id="run-btn")
            cancel_btn = gr.Button("Cancel", variant="stop")
            reset_btn = gr.Button("Back to before (undo the run)")
        run_msg = gr.Markdown(elem_id="run-status")
        curves = gr.Plot(label="Live curves", elem_id="run-curves")
        ba = gr.Dataframe(
            headers=["set", "P̃ before", "P̃ after", "after / before"],
            label="Before | after (length-normalised answer probability, geometric mean)",
            elem_id="before-after",
        )
        with gr.Accordion("Saved runs: reload one (its after comes back from disk) or delete it", open=False):
            with gr.Row():
                saved = gr.Dropdown(run_choices(steps=True), label="Saved run (or a step it kept)", scale=4)
                refresh_btn = gr.Button("Refresh", scale=1)
                load_run_btn = gr.Button("Load run", scale=1)
                delete_run_btn = gr.Button("Delete run", variant="stop", scale=1)
        gr.Markdown("#### Ask both: the model before and after, same question, greedy")
        with gr.Row():
            both_q = gr.Textbox(label="Question", placeholder="e.g. Who wrote the Harry Potter books?", scale=3)
            both_n = gr.Slider(8, 200, value=48, step=4, label="Max new tokens", scale=1)
        both_btn = gr.Button("Ask both")
        with gr.Row():
            before_ans = gr.Textbox(label="Before", interactive=False, elem_id="before-answer")
            after_ans = gr.Textbox(label="After", interactive=False, elem_id="after-answer")

    method.change(on_method, [method, preset], [mcard, hp_table, lr])
    method.change(mode_for, method, mode, show_progress="hidden")
    preset.change(on_method, [method, preset], [mcard, hp_table, lr])
    picks.on_change(unlearn_sets_line, [picks.forget, picks.retain], unlearn_sets)
    form = dict(method_id=method, preset_label=preset, mode_label=mode, hp_rows=hp_table, steps=steps, lr=lr)
    form |= dict(batch_size=batch_size, grad_accum=grad_accum, max_length=max_length, warmup=warmup, seed=seed)
    form |= dict(lora_r=lora_r, low_memory=low_memory, gu_k=gu_k, coreset_share=coreset_share)
    form |= dict(coreset_mode=coreset_mode, melu=melu, save_every=save_every, stop_forget=stop_forget)
    form |= dict(keep_retain=keep_retain, forget=picks.forget, retain=picks.retain, user_sets=picks.user_sets)
    run_event = run_btn.click(
        bind(run_ui, server),
        inputs(RunForm, form),
        [run_msg, curves, ba],
        api_name="run",
        # one spinner, on the status line that says what the run is doing: the animated overlays over the
        # live curves and the table kept headless Chromium busy for 97 s of a 174 s demo on 2 cores
        show_progress_on=run_msg,
        **MODEL_Q,
    )
    cancel_btn.click(bind(cancel_ui, server), None, run_msg, api_name="cancel")
    reset_btn.click(bind(reset_ui, server), None, run_msg, api_name="reset", **MODEL_Q)
    both_btn.click(ask_both_ui, [both_q, both_n], [before_ans, after_ans], api_name="ask_both", **MODEL_Q)
    both_q.submit(ask_both_ui, [both_q, both_n], [before_ans, after_ans], **MODEL_Q)
    run_event.then(refresh_runs, None, saved)
    refresh_btn.click(refresh_runs, None, saved)
    load_run_btn.click(bind(load_run_ui, server), saved, run_msg, api_name="load_run", **MODEL_Q)
    delete_run_btn.click(bind(delete_run_ui, server), saved, [run_msg, saved], api_name="delete_run", **MODEL_Q)
    demo.load(unlearn_sets_line, [picks.forget, picks.retain], unlearn_sets)
