"""Compare tab, layout and wiring: before | after on one prompt, every panel from one forward."""

from __future__ import annotations

import gradio as gr

from ui.common import ACTIVE, MODEL_Q
from ui.compare_tab.handlers import (
    PROMPT_KINDS,
    SLOTS,
    CompareForm,
    attribution_ui,
    compare_items,
    compare_ui,
    head_ui,
    lens_ui,
    refresh_sources,
    tokens_ui,
    topk_ui,
)
from ui.compare_tab.patching import PATCH_ROWS_NOTE, patching_ui
from ui.forms import bind, inputs, ordered
from ui.import_pair import import_row
from ui.shared import Picks, compare_sources
from unlearn.data import workspace as ws
from unlearn.inspection.attribution import METHODS as ATTRIBUTION_METHODS
from unlearn.serve.server import Server


def build(demo: gr.Blocks, picks: Picks, server: Server) -> None:
    """The tab: its prompts come from the sets picked in Model & data (`picks`)."""
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
        import_row("cmp", server, refresh_sources, cmp_source)
        with gr.Row():
            chosen = ws.DEFAULT_PICKS
            items0, _ = compare_items(PROMPT_KINDS[0], chosen["forget"], chosen["retain"], {})
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
        gr.Markdown(
            "#### Activation patching: where the change lives\n"
            "The after model runs with one layer's residual stream, attention or MLP output replaced by the "
            "before model's (at the question, answer or all tokens), and the reverse. If a few layers bring "
            "the answer back, the knowledge is still in the others: it was hidden, not removed. "
            "Every layer, component and position group, both ways: "
            f"{PATCH_ROWS_NOTE}."
        )
        patch_btn = gr.Button("Patch layers", elem_id="patch-btn")
        patch_note = gr.Markdown(elem_id="patch-note")
        patch_heat = gr.Plot(elem_id="plot-patching", show_label=False)
        patch_curves = gr.Plot(elem_id="plot-patching-curves", show_label=False)
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
                value=ATTRIBUTION_METHODS["gradient"],
                label="Method",
                scale=3,
            )
            attr_btn = gr.Button("Attribute", scale=1, elem_id="attr-btn")
        attr_note = gr.Markdown(elem_id="attr-note")
        attr_plot = gr.Plot(elem_id="plot-attribution", show_label=False)
        cmp_download = gr.DownloadButton("Download all figures (HTML, opens offline)", elem_id="cmp-download")

    cmp_items_in = [cmp_kind, picks.forget, picks.retain, picks.user_sets]
    cmp_kind.change(compare_items, cmp_items_in, [cmp_item, cmp_text], api_name="compare_items")
    picks.on_change(compare_items, cmp_items_in, [cmp_item, cmp_text])
    compare_tab.select(compare_items, cmp_items_in, [cmp_item, cmp_text], show_progress="hidden").then(
        refresh_sources, None, cmp_source, show_progress="hidden"
    )
    cmp_refresh.click(refresh_sources, None, cmp_source)
    form = dict(source=cmp_source, kind=cmp_kind, item=cmp_item, text=cmp_text, max_new=cmp_new, sample=cmp_sample)
    form |= dict(temperature=cmp_temp, seed=cmp_seed, k_share=cmp_k, metric=lens_metric, forget=picks.forget)
    form |= dict(retain=picks.retain, user_sets=picks.user_sets)
    shown = {"note": cmp_note, "before": gen_before, "after": gen_after, "Token probabilities": strips_plot}
    shown |= {"position": cmp_pos, "Top-k alternatives": topk_plot, "Logit lens": lens_plot}
    shown |= {"Attention: change per head": change_plot, "Attention: every head": grid_plot, "layer": cmp_layer}
    shown |= {"head": cmp_head, "Attention: one head": head_plot, "Attention rollout": roll_plot}
    shown |= {"download": cmp_download}
    # one spinner, on the note that says what is being computed: animated overlays over the 15 outputs
    # compete with the model for a small machine's cores (as the Unlearn tab's run)
    cmp_btn.click(
        bind(compare_ui, server),
        inputs(CompareForm, form),
        ordered(SLOTS, shown),
        api_name="compare",
        show_progress_on=cmp_note,
        **MODEL_Q,
    )
    cmp_k.release(tokens_ui, cmp_k, strips_plot, api_name="compare_tokens")
    cmp_pos.release(topk_ui, cmp_pos, topk_plot, api_name="compare_topk")
    lens_metric.change(lens_ui, lens_metric, lens_plot, api_name="compare_lens")
    cmp_layer.release(head_ui, [cmp_layer, cmp_head], head_plot, api_name="compare_head")
    cmp_head.release(head_ui, [cmp_layer, cmp_head], head_plot)
    patch_btn.click(
        bind(patching_ui, server),
        None,
        [patch_note, patch_heat, patch_curves],
        api_name="compare_patching",
        show_progress_on=patch_note,
        **MODEL_Q,
    )
    attr_btn.click(
        bind(attribution_ui, server),
        attr_method,
        [attr_note, attr_plot, cmp_download],
        api_name="compare_attribution",
        show_progress_on=attr_note,
        **MODEL_Q,
    )
