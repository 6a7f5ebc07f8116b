"""Unlearning Inspector: the Gradio app. Layout and wiring only: the handlers are in `ui/` (one
module per tab), the work in `unlearn/` (models, data, training) and `viz/` (figures and cards).

    python app.py [--model bundled] [--port 7860] [--host 127.0.0.1]
"""

from __future__ import annotations

import gradio as gr

from ui import common
from ui.audit_tab import (
    AUDITS,
    audit_cancel_ui,
    audit_item_ui,
    audit_sets_line,
    audit_show_ui,
    audit_sources,
    audit_ui,
    forget_session,
    refresh_audit_sources,
)
from ui.audit_tab import EXTRAS as AUDIT_EXTRAS
from ui.common import ACTIVE, MODEL_QUEUE, NONE, SOURCES
from ui.compare_tab import (
    PROMPT_KINDS,
    attribution_ui,
    compare_items,
    compare_ui,
    head_ui,
    lens_ui,
    refresh_sources,
    tokens_ui,
    topk_ui,
)
from ui.data_sources import add_upload, after_add, inspect_upload, load_hub_ui, on_preset
from ui.data_tab import (
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
from ui.runs_tab import (
    EXPORT_FORMATS,
    IMPORT_HELP,
    export_model_ui,
    import_ui,
    run_steps_ui,
    runs_delete_ui,
    runs_export_ui,
    runs_view_ui,
)
from ui.server import parse_args, server_settings
from ui.shared import RESULTS, compare_sources, delete_run_ui, refresh_runs, run_choices
from ui.unlearn_tab import (
    MODE_LABELS,
    PRESET_LABELS,
    ask_both_ui,
    cancel_ui,
    load_run_ui,
    method_choices,
    mode_for,
    on_method,
    reset_ui,
    run_ui,
    unlearn_sets_line,
)
from unlearn.data import workspace as ws
from unlearn.data.hub_data import PRESETS
from unlearn.data.teach import TeachConfig
from unlearn.inspection.attribution import METHODS as ATTRIBUTION_METHODS
from unlearn.model.devices import DEVICE_CHOICES
from unlearn.serve.access import AccessDenied
from unlearn.serve.store import STORE
from unlearn.train.engine import DEMO_STEPS
from viz import audit_report
from viz.runs import RUNS_HEADERS


# ---------------------------------------------------------------- layout
def import_row(tab: str) -> tuple[gr.Textbox, gr.Textbox, gr.Button, gr.Markdown]:
    """After = a checkpoint made elsewhere: the same row in Compare, Audit and Runs."""
    with gr.Accordion(
        "After = a checkpoint made elsewhere (model folder, hub id, .gguf, PEFT adapter)",
        open=False,
        elem_id=f"{tab}-import",
    ):
        gr.Markdown(IMPORT_HELP)
        with gr.Row():
            path = gr.Textbox(
                label="After checkpoint",
                placeholder="/path/to/unlearned-model · org/name · model.gguf · /path/to/adapter",
                scale=4,
                elem_id=f"{tab}-import-path",
            )
            name = gr.Textbox(label="Name (optional)", scale=2, elem_id=f"{tab}-import-name")
            btn = gr.Button("Import as a pair", scale=1, elem_id=f"{tab}-import-btn")
        msg = gr.Markdown(elem_id=f"{tab}-import-msg")
    return path, name, btn, msg


def build_demo() -> gr.Blocks:
    picks = ws.DEFAULT_PICKS
    opts = ws.choices({})
    with gr.Blocks(title="Unlearning Inspector") as demo:
        user_sets = gr.State({})
        gr.Markdown(
            "# Unlearning Inspector\n"
            "Load a language model, choose what it should **forget** and what it must **retain**, unlearn, "
            "then look inside: before | after, token by token, head by head."
        )
        with gr.Tabs():
            with gr.Tab("Model & data", id="model"):
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
                                info="split: a model too big for one GPU, spread over the GPUs and the CPU "
                                "(Compare and Audit)",
                            )
                            trust = gr.Checkbox(
                                False,
                                label="Trust remote code (runs the repository's own code)",
                                visible=common.ACCESS.allow_remote_code,  # only if the server was started to allow it
                            )
                        load_btn = gr.Button("Load model", variant="primary")
                        load_msg = gr.Markdown(elem_id="load-msg")
                    with gr.Column(scale=3):
                        card = gr.Markdown(show_model(), elem_id="model-card")

                gr.Markdown("### Data")
                with gr.Row():
                    forget = gr.Dropdown(opts, value=picks["forget"], label="Forget set (to unlearn)")
                    retain = gr.Dropdown(opts, value=picks["retain"], label="Retain set (to keep)")
                    holdout = gr.Dropdown(opts + [NONE], value=picks["holdout"], label="Holdout set (never trained on)")
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
                        epochs = gr.Slider(
                            1, 30, value=TeachConfig().epochs, step=1, label="Epochs", elem_id="teach-epochs"
                        )
                        teach_btn = gr.Button("Teach", variant="primary")
                    teach_msg = gr.Markdown(elem_id="teach-status")

                gr.Markdown("### Ask the model")
                with gr.Row():
                    question = gr.Textbox(label="Question", placeholder="e.g. What is the name of Harry Potter's owl?")
                    max_new = gr.Slider(8, 200, value=60, step=4, label="Max new tokens")
                ask_btn = gr.Button("Ask")
                answer = gr.Textbox(label="Answer (greedy)", interactive=False)

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
                with gr.Row():
                    steps = gr.Number(DEMO_STEPS, label="Steps", precision=0)
                    lr = gr.Number(lr0, label="Learning rate")
                    batch_size = gr.Number(8, label="Batch size", precision=0)
                    grad_accum = gr.Number(1, label="Gradient accumulation", precision=0)
                with gr.Accordion("More loop settings", open=False):
                    with gr.Row():
                        max_length = gr.Number(256, label="Max tokens per item", precision=0)
                        warmup = gr.Number(0, label="Warm-up steps", precision=0)
                        seed = gr.Number(0, label="Seed", precision=0)
                        lora_r = gr.Number(8, label="LoRA rank", precision=0)
                        low_memory = gr.Checkbox(
                            False,
                            label="Low memory",
                            info="recompute activations during backward: a fraction of the memory, ~30% slower",
                        )
                with gr.Accordion("Options for any gradient method: GU projection, coreset, MELU", open=False):
                    with gr.Row():
                        gu_k = gr.Number(
                            0,
                            label="GU: retain gradients projected out (k)",
                            info="0 = off. Removes from the forget gradient its part in the span of the last k "
                            "retain gradients (arXiv 2511.17100; without the paper's Adam preconditioning)",
                            precision=0,
                        )
                        coreset_share = gr.Slider(
                            0.05,
                            1.0,
                            value=1.0,
                            step=0.05,
                            label="Coreset: share of the forget set trained on",
                            info="measured on the whole set (arXiv 2504.10185)",
                        )
                        coreset_mode = gr.Radio(["random", "keyword"], value="random", label="Coreset selection")
                        melu = gr.Checkbox(
                            False,
                            label="MELU: entity by entity (reconstruction)",
                            info="one entity's items per batch, its neighbours first (needs the entity column)",
                        )
                with gr.Accordion("Stop rule and saved steps: end where forget and retain say so", open=False):
                    with gr.Row():
                        stop_forget = gr.Number(
                            0,
                            label="Stop once forget P̃ ≤ this share of before (0 = off)",
                            info="e.g. 0.1: stop at the first step that took the forget set to 10% of before",
                            elem_id="stop-forget",
                        )
                        keep_retain = gr.Number(
                            0,
                            label="Keep held-out retain P̃ ≥ this share of before (0 = off)",
                            info="e.g. 0.9: the step that takes retain below 90% is undone and the run stops",
                            elem_id="keep-retain",
                        )
                        save_every = gr.Number(
                            0,
                            label="Keep the weights every k steps (0 = off)",
                            info="each kept step can be compared and audited; LoRA adapters are small, full copies not",
                            precision=0,
                            elem_id="save-every",
                        )
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

            with gr.Tab("Compare", id="compare") as compare_tab:
                gr.Markdown(
                    "Before | after on one prompt. One generation and one forward per model; every panel below is "
                    "drawn from that forward (picking another token or head recomputes nothing). "
                    "PNG: the camera icon on each plot; all figures as one offline HTML file: the button at the end."
                )
                with gr.Row():
                    cmp_source = gr.Dropdown(compare_sources(), value=ACTIVE, label="After =", scale=4)
                    cmp_refresh = gr.Button("Refresh runs", scale=1)
                    cmp_kind = gr.Radio(PROMPT_KINDS, value=PROMPT_KINDS[0], label="Prompt", scale=3)
                cmp_import = import_row("cmp")
                with gr.Row():
                    items0, _ = compare_items(PROMPT_KINDS[0], picks["forget"], picks["retain"], {})
                    cmp_item = gr.Dropdown(
                        items0["choices"],
                        value=items0["value"],
                        label="Item (from the sets picked in Model & data)",
                        elem_id="cmp-item",
                        allow_custom_value=True,  # an API caller may pass an item number directly
                    )
                    cmp_text = gr.Textbox(
                        label="Free text: a question (scored on the before model's own answer)", visible=False
                    )
                with gr.Accordion("Decoding (the same settings and seed for both models)", open=False):
                    with gr.Row():
                        cmp_new = gr.Slider(4, 128, value=32, step=4, label="Max new tokens")
                        cmp_sample = gr.Checkbox(False, label="Sample (default: greedy)")
                        cmp_temp = gr.Slider(0.1, 2.0, value=0.7, step=0.1, label="Temperature (sampling)")
                        cmp_seed = gr.Number(0, label="Seed", precision=0)
                cmp_btn = gr.Button("Compare", variant="primary", elem_id="compare-btn")
                cmp_note = gr.Markdown(elem_id="compare-note")
                gr.Markdown("#### Generations: words that differ are highlighted")
                with gr.Row():
                    gen_before = gr.HighlightedText(
                        label="Before", color_map={"removed": "#f4a261"}, elem_id="gen-before", show_legend=True
                    )
                    gen_after = gr.HighlightedText(
                        label="After", color_map={"added": "#e76f51"}, elem_id="gen-after", show_legend=True
                    )
                gr.Markdown("#### Token probabilities of the answer")
                cmp_k = gr.Slider(0.05, 0.5, value=0.2, step=0.05, label="Mark the lowest k share (Min-K% tokens)")
                strips_plot = gr.Plot(elem_id="plot-strips", show_label=False)
                cmp_pos = gr.Slider(0, 1, value=0, step=1, label="Top-k at answer token # (starts at the biggest drop)")
                topk_plot = gr.Plot(elem_id="plot-topk", show_label=False)
                gr.Markdown(
                    "#### Logit lens\nIf the answer still rises through the middle layers after unlearning and "
                    "falls only at the end, it was suppressed at the read-out, not removed."
                )
                lens_metric = gr.Radio(["probability", "rank"], value="probability", label="Lens shows")
                lens_plot = gr.Plot(elem_id="plot-lens", show_label=False)
                gr.Markdown("#### Attention")
                change_plot = gr.Plot(elem_id="plot-head-change", show_label=False)
                grid_plot = gr.Plot(elem_id="plot-heads", show_label=False)
                with gr.Row():
                    cmp_layer = gr.Slider(
                        1, 30, value=1, step=1, label="Layer (starts at the head that moved most)", elem_id="cmp-layer"
                    )
                    cmp_head = gr.Slider(0, 8, value=0, step=1, label="Head", elem_id="cmp-head")
                head_plot = gr.Plot(elem_id="plot-head", show_label=False)
                roll_plot = gr.Plot(elem_id="plot-rollout", show_label=False)
                gr.Markdown("#### Attribution (Captum): which question tokens carry the answer")
                with gr.Row():
                    attr_method = gr.Radio(
                        list(ATTRIBUTION_METHODS.values()),
                        value=ATTRIBUTION_METHODS["ablation"],
                        label="Method",
                        scale=3,
                    )
                    attr_btn = gr.Button("Attribute", scale=1, elem_id="attr-btn")
                attr_note = gr.Markdown(elem_id="attr-note")
                attr_plot = gr.Plot(elem_id="plot-attribution", show_label=False)
                cmp_download = gr.DownloadButton("Download all figures (HTML, opens offline)", elem_id="cmp-download")

            with gr.Tab("Audit", id="audit") as audit_tab:
                gr.Markdown(
                    "Did it really forget? The forget, retain and holdout sets picked in *Model & data* are scored "
                    "before and after: membership inference (LOSS, zlib, Min-K%, Min-K%++, GradNorm, and the "
                    "reference attack and MUSE's PrivLeak against a retain-only model), REMIND's input-loss "
                    "landscapes (arXiv 2511.04228) with a verdict per item, TOFU metrics and model utility, "
                    "adversarial probes, honesty, and the relearning and quantization attacks. On a 2-core CPU, 20 "
                    "items per split with everything on take about 30 minutes; fewer items, fewer neighbours or "
                    "fewer extras under *Also run* are quicker. The audit is saved beside its run.  \n"
                    "The holdout set must come from the same source as the forget set (e.g. "
                    "`fictitious_authors:forget` with `fictitious_authors:holdout`, after *Teach*): otherwise the "
                    "attacks tell the topics apart, not members from non-members."
                )
                with gr.Row():
                    aud_source = gr.Dropdown(audit_sources(), value=ACTIVE, label="Audit", scale=4)
                    aud_refresh = gr.Button("Refresh runs", scale=1)
                    aud_show = gr.Button("Show its saved audit", scale=1)
                aud_import = import_row("aud")
                with gr.Accordion("Audit settings: items, neighbours, probes, surfaces", open=False):
                    with gr.Row():
                        aud_items = gr.Slider(4, 200, value=20, step=1, label="Items per split", elem_id="audit-items")
                        aud_k = gr.Slider(
                            2, 40, value=15, step=1, label="REMIND neighbours per strength (K)", elem_id="audit-k"
                        )
                        aud_p = gr.Slider(0.2, 0.5, value=0.3, step=0.1, label="Replacement probability p")
                        aud_m = gr.Slider(1, 50, value=20, step=1, label="Nearest tokens to pick from (m)")
                    with gr.Row():
                        aud_probes = gr.Slider(
                            0, 20, value=6, step=1, label="Forget items per adversarial probe", elem_id="audit-probes"
                        )
                        aud_surfaces = gr.Slider(
                            0, 10, value=2, step=1, label="Forget items with a 2-D surface", elem_id="audit-surfaces"
                        )
                        aud_relearn = gr.Checkbox(True, label="Relearning attack (5 steps on half the forget set)")
                    aud_extras = gr.CheckboxGroup(
                        list(AUDIT_EXTRAS),
                        value=list(AUDIT_EXTRAS),
                        label="Also run",
                        info="without Real Authors and World Facts the utility is a 'retain utility', not TOFU's",
                        elem_id="audit-extras",
                    )
                    aud_retain_model = gr.Textbox(
                        label="Retain-only model (optional): a folder, .gguf, hub id or PEFT adapter folder of a "
                        "model trained without the forget set, for TOFU's forget quality, MUSE's PrivLeak and the "
                        "reference attack",
                        placeholder="e.g. the folder `python -m unlearn teach --sets fictitious_authors:retain` prints",
                    )
                aud_sets = gr.Markdown(elem_id="audit-sets")
                with gr.Row():
                    aud_btn = gr.Button("Run audit", variant="primary", elem_id="audit-btn")
                    aud_cancel = gr.Button("Cancel", variant="stop")
                aud_msg = gr.Markdown(elem_id="audit-status")
                aud_headline = gr.Markdown(elem_id="audit-headline")
                gr.Markdown("#### Membership inference: forget (members) against holdout (never trained on)")
                with gr.Row():
                    with gr.Column(scale=1):
                        auc_table = gr.Dataframe(
                            headers=audit_report.AUC_HEADERS,
                            label="ROC-AUC (0.5: cannot tell forget from holdout)",
                            elem_id="audit-aucs",
                            column_widths=["36%", "14%", "14%", "14%", "22%"],
                            wrap=True,
                        )
                        gr.Markdown(
                            audit_report.CHANGE_NOTE + "  \n" + audit_report.ATTACK_REFERENCES,
                            elem_id="audit-change-note",
                        )
                    auc_plot = gr.Plot(elem_id="plot-aucs", show_label=False, scale=1)
                with gr.Row():
                    roc_after = gr.Plot(elem_id="plot-roc-after", show_label=False)
                    roc_before = gr.Plot(elem_id="plot-roc-before", show_label=False)
                gr.Markdown(
                    "#### REMIND: the loss around each item\nA truly forgotten item sits on a flat plateau like an "
                    "item never seen; residual memorisation keeps a trained item's basin. The classifier reads "
                    "15 features of each landscape (out-of-fold)."
                )
                feat_plot = gr.Plot(elem_id="plot-features", show_label=False)
                scatter_plot = gr.Plot(elem_id="plot-feature-scatter", show_label=False)
                verdicts = gr.Dataframe(
                    headers=audit_report.VERDICT_HEADERS,
                    label="Verdict per item (REMIND's classifier, out-of-fold, on the after model's landscape)",
                    wrap=True,
                    max_height=420,
                    column_widths=["34%", "8%", "16%", "16%", "13%", "13%"],
                    elem_id="audit-verdicts",
                )
                aud_item = gr.Dropdown([], label="Item: its landscape and (first forget items) its 2-D surface")
                land_plot = gr.Plot(elem_id="plot-landscape", show_label=False)
                surface_plot = gr.Plot(elem_id="plot-surface", show_label=False)
                gr.Markdown("#### TOFU metrics, attacks and honesty")
                tofu_table = gr.Dataframe(label="TOFU metrics (set means)", elem_id="audit-tofu")
                tofu_plot = gr.Plot(elem_id="plot-tofu", show_label=False)
                with gr.Row():
                    probe_plot = gr.Plot(elem_id="plot-probes", show_label=False)
                    honesty_plot = gr.Plot(elem_id="plot-honesty", show_label=False)
                with gr.Row():
                    relearn_plot = gr.Plot(elem_id="plot-relearn", show_label=False)
                    quant_plot = gr.Plot(elem_id="plot-quantization", show_label=False)
                with gr.Row():
                    aud_html = gr.DownloadButton("Download the report (HTML, opens offline)", elem_id="audit-html")
                    aud_json = gr.DownloadButton("Download every figure (JSON)", elem_id="audit-json")

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
                runs_msg = gr.Markdown(elem_id="runs-status")
                with gr.Row():
                    runs_format = gr.Radio(
                        list(EXPORT_FORMATS), value=next(iter(EXPORT_FORMATS)), label="Export the model as", scale=3
                    )
                    runs_model_btn = gr.Button("Export the model", scale=1, elem_id="export-model-btn")
                    runs_model = gr.DownloadButton("Download the model (zip)", scale=1, elem_id="export-model")
                runs_model_msg = gr.Markdown(elem_id="export-model-msg")
                runs_import = import_row("runs")
                runs_steps = gr.Plot(elem_id="plot-run-steps", show_label=False, visible=False)
                runs_steps_note = gr.Markdown(elem_id="run-steps-note")
                with gr.Row():
                    runs_html = gr.DownloadButton("Download the run's report (HTML)", elem_id="runs-html")
                    runs_json = gr.DownloadButton("Download the run's data (JSON)", elem_id="runs-json")

        # ---- wiring
        model_q = dict(concurrency_id=MODEL_QUEUE, concurrency_limit=1)
        sets_in = [forget, retain, holdout, user_sets]
        pickers = [forget, retain, holdout]
        source.change(on_source_change, source, ref)
        load_btn.click(
            load_model_ui, [source, ref, device, trust], [card, load_msg], api_name="load_model", **model_q
        ).then(set_status, sets_in, status)
        forget.change(holdout_for, [forget, holdout, user_sets], holdout, show_progress="hidden")
        for p in pickers:
            p.change(set_status, sets_in, status, show_progress="hidden").then(
                preview, [which, *sets_in], [table, caption, know_plot], show_progress="hidden"
            )
        which.change(preview, [which, *sets_in], [table, caption, know_plot], api_name="preview")
        check_btn.click(
            check_knowledge_ui, [which, *sets_in], [table, know_plot, caption], api_name="check_knowledge", **model_q
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
            load_hub_ui,
            [repo, config, split, limit, user_sets, add_as],
            [user_sets, *pickers, add_msg],
            api_name="load_hub",
        )
        teach_btn.click(
            teach_ui, [forget, retain, epochs, user_sets], [card, teach_msg], api_name="teach", **model_q
        ).then(set_status, sets_in, status)
        ask_btn.click(ask_ui, [question, max_new], answer, api_name="ask", **model_q)
        question.submit(ask_ui, [question, max_new], answer, **model_q)
        method.change(on_method, [method, preset], [mcard, hp_table, lr])
        method.change(mode_for, method, mode, show_progress="hidden")
        preset.change(on_method, [method, preset], [mcard, hp_table, lr])
        for p in pickers:
            p.change(unlearn_sets_line, [forget, retain], unlearn_sets, show_progress="hidden")
        run_inputs = [
            method,
            preset,
            mode,
            hp_table,
            steps,
            lr,
            batch_size,
            grad_accum,
            max_length,
            warmup,
            seed,
            lora_r,
            low_memory,
            gu_k,
            coreset_share,
            coreset_mode,
            melu,
            save_every,
            stop_forget,
            keep_retain,
            forget,
            retain,
            user_sets,
        ]
        run_event = run_btn.click(run_ui, run_inputs, [run_msg, curves, ba], api_name="run", **model_q)
        cancel_btn.click(cancel_ui, None, run_msg, api_name="cancel")
        reset_btn.click(reset_ui, None, run_msg, api_name="reset", **model_q)
        both_btn.click(ask_both_ui, [both_q, both_n], [before_ans, after_ans], api_name="ask_both", **model_q)
        both_q.submit(ask_both_ui, [both_q, both_n], [before_ans, after_ans], **model_q)
        run_event.then(refresh_runs, None, saved)
        refresh_btn.click(refresh_runs, None, saved)
        load_run_btn.click(load_run_ui, saved, run_msg, api_name="load_run", **model_q)
        delete_run_btn.click(delete_run_ui, saved, [run_msg, saved], api_name="delete_run", **model_q)
        # ---- compare
        cmp_items_in = [cmp_kind, forget, retain, user_sets]
        cmp_kind.change(compare_items, cmp_items_in, [cmp_item, cmp_text], api_name="compare_items")
        for p in pickers:
            p.change(compare_items, cmp_items_in, [cmp_item, cmp_text], show_progress="hidden")
        compare_tab.select(compare_items, cmp_items_in, [cmp_item, cmp_text], show_progress="hidden").then(
            refresh_sources, None, cmp_source, show_progress="hidden"
        )
        cmp_refresh.click(refresh_sources, None, cmp_source)
        cmp_btn.click(
            compare_ui,
            [
                cmp_source,
                cmp_kind,
                cmp_item,
                cmp_text,
                cmp_new,
                cmp_sample,
                cmp_temp,
                cmp_seed,
                cmp_k,
                lens_metric,
                forget,
                retain,
                user_sets,
            ],
            [
                cmp_note,
                gen_before,
                gen_after,
                strips_plot,
                cmp_pos,
                topk_plot,
                lens_plot,
                change_plot,
                grid_plot,
                cmp_layer,
                cmp_head,
                head_plot,
                roll_plot,
                cmp_download,
            ],
            api_name="compare",
            **model_q,
        )
        cmp_k.release(tokens_ui, cmp_k, strips_plot, api_name="compare_tokens")
        cmp_pos.release(topk_ui, cmp_pos, topk_plot, api_name="compare_topk")
        lens_metric.change(lens_ui, lens_metric, lens_plot, api_name="compare_lens")
        cmp_layer.release(head_ui, [cmp_layer, cmp_head], head_plot, api_name="compare_head")
        cmp_head.release(head_ui, [cmp_layer, cmp_head], head_plot)
        attr_btn.click(
            attribution_ui, attr_method, [attr_note, attr_plot, cmp_download], api_name="compare_attribution", **model_q
        )
        # ---- audit
        aud_views = [
            aud_headline,
            auc_table,
            auc_plot,
            roc_after,
            roc_before,
            feat_plot,
            scatter_plot,
            verdicts,
            aud_item,
            land_plot,
            surface_plot,
            tofu_table,
            tofu_plot,
            probe_plot,
            honesty_plot,
            relearn_plot,
            quant_plot,
            aud_html,
            aud_json,
        ]
        aud_in = [aud_source, aud_items, aud_k, aud_p, aud_m, aud_probes, aud_relearn, aud_surfaces, aud_extras]
        aud_in += [aud_retain_model]
        aud_in += sets_in[:3]
        aud_btn.click(
            audit_ui,
            [*aud_in, user_sets],
            [aud_msg, *aud_views],
            api_name="audit",
            show_progress_on=aud_msg,  # one spinner: 19 animated overlays cost the audit CPU time on a small machine
            **model_q,
        )
        aud_cancel.click(audit_cancel_ui, None, aud_msg, api_name="audit_cancel")
        aud_show.click(audit_show_ui, aud_source, [aud_msg, *aud_views], api_name="audit_show")
        aud_item.change(audit_item_ui, aud_item, [land_plot, surface_plot], api_name="audit_item")
        aud_refresh.click(refresh_audit_sources, None, aud_source)
        audit_tab.select(refresh_audit_sources, None, aud_source, show_progress="hidden")
        for p in pickers:
            p.change(audit_sets_line, pickers, aud_sets, show_progress="hidden")
        demo.load(audit_sets_line, pickers, aud_sets)
        # ---- runs
        runs_views = [runs_table, runs_plot, runs_pick]
        runs_tab.select(runs_view_ui, None, runs_views, show_progress="hidden")
        runs_refresh.click(runs_view_ui, None, runs_views, api_name="runs")
        runs_open.click(load_run_ui, runs_pick, runs_msg, api_name="open_run", **model_q)
        runs_delete.click(runs_delete_ui, runs_pick, [runs_msg, *runs_views], api_name="runs_delete", **model_q)
        runs_export.click(runs_export_ui, runs_pick, [runs_msg, runs_html, runs_json], api_name="export_run")
        runs_pick.change(run_steps_ui, runs_pick, [runs_steps, runs_steps_note], api_name="run_steps")
        runs_model_btn.click(
            export_model_ui, [runs_pick, runs_format], [runs_model_msg, runs_model], api_name="export_model", **model_q
        )
        # after = a checkpoint made elsewhere, from any of the three tabs; each picker then shows it
        after_import = {"cmp": (refresh_sources, cmp_source), "aud": (refresh_audit_sources, aud_source)}
        after_import["runs"] = (runs_view_ui, runs_views)
        for tab, (path, name, btn, msg) in {"cmp": cmp_import, "aud": aud_import, "runs": runs_import}.items():
            refresh, shown = after_import[tab]
            btn.click(import_ui, [path, name], msg, api_name="import_pair" if tab == "runs" else False, **model_q).then(
                refresh, None, shown, show_progress="hidden"
            )
        demo.load(unlearn_sets_line, [forget, retain], unlearn_sets)
        demo.unload(forget_session)
        demo.load(show_model, None, card).then(set_status, sets_in, status).then(
            preview, [which, *sets_in], [table, caption, know_plot]
        )
    return demo


def main() -> None:
    args = parse_args()
    try:
        common.ACCESS, launch = server_settings(args)
    except AccessDenied as e:
        raise SystemExit(f"error: {e}") from None
    if not args.no_model:
        print(f"Loading {args.model} (the first time converts the bundled GGUF, ~30 s)…", flush=True)
        lm = STORE.load(args.model, device=args.device)
        print(f"Loaded {lm.name} on {lm.device} in {lm.load_seconds:.1f} s", flush=True)
    RESULTS.max_sessions = AUDITS.max_sessions = max(1, args.kept_results)
    demo = build_demo()
    demo.queue(max_size=64, default_concurrency_limit=4)
    demo.launch(**launch)


if __name__ == "__main__":
    main()
