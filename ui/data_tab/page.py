"""Model & data tab, layout and wiring: load a model, pick and edit the sets, teach, ask."""

from __future__ import annotations

import gradio as gr

from ui import widgets
from ui.common import MODEL_Q, NONE, SOURCES
from ui.data_tab.handlers import (
    HOLDOUT_WHY,
    ask_ui,
    check_knowledge_ui,
    holdout_for,
    load_model_ui,
    on_source_change,
    preview,
    save_edits,
    set_status,
    show_model,
    split_holdout_ui,
    teach_ui,
)
from ui.data_tab.sources import add_upload, after_add, inspect_upload, load_hub_ui, on_preset
from ui.forms import bind
from ui.shared import Picks
from unlearn.data import workspace as ws
from unlearn.data.hub_data import PRESETS
from unlearn.data.teach import TeachConfig
from unlearn.model.devices import DEVICE_CHOICES
from unlearn.serve.server import Server


def build(demo: gr.Blocks, server: Server) -> Picks:
    """The tab; returns its set pickers, which the other tabs read."""
    chosen, opts = ws.DEFAULT_PICKS, ws.choices({})
    with gr.Tab("Model & data", id="model"):
        # inside the tab: a component placed in gr.Tabs beside the tabs would be taken for one
        user_sets = gr.State({})  # the session's own sets (uploads, edits, splits), never shared between sessions
        with gr.Row():
            with gr.Column(scale=2):
                gr.Markdown("### Model")
                source = gr.Radio(list(SOURCES), value=list(SOURCES)[0], label="Source")
                ref = gr.Textbox(label="Hub id, folder or .gguf path", visible=False)
                with gr.Row():
                    device = gr.Dropdown(
                        list(DEVICE_CHOICES),
                        value="auto",
                        label="Device",
                        info="split: a model too big for one GPU, spread over the GPUs and the CPU (Compare and Audit)",
                    )
                    trust = gr.Checkbox(
                        False,
                        label="Trust remote code (runs the repository's own code)",
                        visible=server.access.allow_remote_code,  # only if the server was started to allow it
                    )
                load_btn = gr.Button("Load model", variant="primary")
                load_msg = gr.Markdown(elem_id="load-msg")
            with gr.Column(scale=3):
                card = gr.Markdown(show_model(), elem_id="model-card")

        gr.Markdown("### Data")
        with gr.Row():
            forget = gr.Dropdown(opts, value=chosen["forget"], label="Forget set (to unlearn)")
            retain = gr.Dropdown(opts, value=chosen["retain"], label="Retain set (to keep)")
            holdout = gr.Dropdown(opts + [NONE], value=chosen["holdout"], label="Holdout set (never trained on)")
        status = gr.Markdown(elem_id="set-status")
        with gr.Row():
            split_btn = gr.Button("Split a holdout from the forget set", scale=1, elem_id="split-btn")
            split_share = gr.Slider(
                0.1, 0.5, value=ws.HOLDOUT_SHARE, step=0.05, label="Share held out (seeded)", scale=1
            )
            gr.Markdown(HOLDOUT_WHY, elem_id="holdout-why")
        split_msg = gr.Markdown(elem_id="split-msg")
        with gr.Accordion("Add a set: upload a file or load a hub dataset", open=False):
            add_as = gr.Radio(list(ws.ROLES), value="forget", label="Use the new set as", elem_id="add-as")
            with gr.Tabs():
                with gr.Tab("Upload"):
                    with gr.Row():
                        upload = gr.File(
                            label="JSON, JSON Lines, CSV/TSV or text", type="filepath", elem_id="upload-file"
                        )
                        with gr.Column():
                            text_mode = gr.Radio(
                                ["auto", "lines", "passages"], value="auto", label="Plain text: one item per"
                            )
                            up_name = gr.Textbox(label="Name for the set", placeholder="file name if empty")
                    with gr.Row():
                        q_col = gr.Dropdown([], label="Question column", allow_custom_value=True)
                        a_col = gr.Dropdown([], label="Answer column", allow_custom_value=True)
                        t_col = gr.Dropdown([], label="Text column (plain passages)", allow_custom_value=True)
                    up_btn = gr.Button("Add set", elem_id="add-set-btn")
                with gr.Tab("Hub dataset"):
                    with gr.Row():
                        hub_preset = gr.Dropdown(list(PRESETS), value="tofu", label="Preset")
                        repo = gr.Textbox(PRESETS["tofu"].repo_id, label="Dataset id")
                        config = gr.Dropdown(
                            PRESETS["tofu"].configs,
                            value=PRESETS["tofu"].default_config,
                            label="Config",
                            allow_custom_value=True,
                        )
                        split = gr.Textbox(PRESETS["tofu"].default_split, label="Split")
                        limit = gr.Number(500, label="Max items", precision=0)
                    hub_btn = gr.Button("Load from hub")
            add_msg = gr.Markdown(elem_id="add-msg")

        with gr.Row():
            which = gr.Radio(list(ws.ROLES), value="forget", label="Preview and edit")
            check_btn = gr.Button("Check what the model knows of this set")
        caption = gr.Markdown(elem_id="set-caption")
        table = gr.Dataframe(
            headers=ws.TABLE_HEADERS,
            interactive=True,
            wrap=True,
            max_height=420,
            elem_id="set-table",
            datatype=ws.TABLE_TYPES,
            column_widths=["21%", "21%", "10%", "7%", "5%", "5%", "6%", "25%"],
        )
        with gr.Row():
            save_btn = gr.Button("Save edits as a new set", elem_id="save-edits-btn")
        edit_msg = gr.Markdown()
        know_plot = gr.Plot(label="What the model knows", elem_id="know-plot")

        with gr.Accordion("Teach: make the model know the forget and retain sets", open=False):
            gr.Markdown(
                "Fine-tunes the loaded model on the selected forget + retain sets (all parameters), "
                "so invented facts (like `fictitious_authors`) become memorised knowledge to unlearn. "
                "The holdout set is never taught. Cached: the same teaching twice loads from disk."
            )
            with gr.Row():
                epochs = widgets.slider(TeachConfig, "epochs", step=1, elem_id="teach-epochs")
                teach_btn = gr.Button("Teach", variant="primary")
            teach_msg = gr.Markdown(elem_id="teach-status")

        gr.Markdown("### Ask the model")
        with gr.Row():
            question = gr.Textbox(label="Question", placeholder="e.g. What is the name of Harry Potter's owl?")
            max_new = gr.Slider(8, 200, value=60, step=4, label="Max new tokens")
        ask_btn = gr.Button("Ask")
        answer = gr.Textbox(label="Answer (greedy)", interactive=False)

    picks = Picks(forget, retain, holdout, user_sets)
    sets_in, pickers = picks.sets_in, picks.pickers
    source.change(on_source_change, source, ref)
    load_btn.click(
        bind(load_model_ui, server), [source, ref, device, trust], [card, load_msg], api_name="load_model", **MODEL_Q
    ).then(set_status, sets_in, status)
    forget.change(holdout_for, [forget, holdout, user_sets], holdout, show_progress="hidden")
    for p in pickers:
        p.change(set_status, sets_in, status, show_progress="hidden").then(
            preview, [which, *sets_in], [table, caption, know_plot], show_progress="hidden"
        )
    which.change(preview, [which, *sets_in], [table, caption, know_plot], api_name="preview")
    check_btn.click(
        check_knowledge_ui, [which, *sets_in], [table, know_plot, caption], api_name="check_knowledge", **MODEL_Q
    )
    save_btn.click(save_edits, [which, table, *sets_in], [user_sets, *pickers, edit_msg], api_name="save_edits")
    upload.change(inspect_upload, [upload, text_mode], [q_col, a_col, t_col, add_msg])
    up_btn.click(
        add_upload,
        [upload, text_mode, up_name, q_col, a_col, t_col, user_sets, add_as],
        [user_sets, *pickers, add_msg],
        api_name="add_upload",
    ).then(after_add, add_msg, upload, show_progress="hidden")
    split_btn.click(
        split_holdout_ui,
        [forget, split_share, user_sets],
        [user_sets, *pickers, split_msg],
        api_name="split_holdout",
    )
    hub_preset.change(on_preset, hub_preset, [repo, config, split])
    hub_btn.click(
        bind(load_hub_ui, server),
        [repo, config, split, limit, user_sets, add_as],
        [user_sets, *pickers, add_msg],
        api_name="load_hub",
    )
    teach_btn.click(
        bind(teach_ui, server), [forget, retain, epochs, user_sets], [card, teach_msg], api_name="teach", **MODEL_Q
    ).then(set_status, sets_in, status)
    ask_btn.click(ask_ui, [question, max_new], answer, api_name="ask", **MODEL_Q)
    question.submit(ask_ui, [question, max_new], answer, **MODEL_Q)
    demo.load(show_model, None, card).then(set_status, sets_in, status).then(
        preview, [which, *sets_in], [table, caption, know_plot]
    )
    return picks
