"""Audit tab, layout and wiring: did it really forget? Membership inference, REMIND, TOFU, attacks."""

from __future__ import annotations

import gradio as gr

from ui import widgets
from ui.audit_tab.handlers import (
    DEFAULT_EXTRAS,
    EXTRAS,
    VIEWS,
    AuditForm,
    audit_cancel_ui,
    audit_item_ui,
    audit_sets_line,
    audit_show_ui,
    audit_sources,
    audit_ui,
    forget_session,
    refresh_audit_sources,
)
from ui.common import ACTIVE, MODEL_Q
from ui.forms import bind, inputs, ordered
from ui.import_pair import import_row
from ui.shared import Picks
from unlearn.audit.pipeline import AuditConfig
from unlearn.audit.remind import RemindConfig
from unlearn.serve.server import Server
from viz import audit_report


def build(demo: gr.Blocks, picks: Picks, server: Server) -> None:
    """The tab: it audits the sets picked in Model & data (`picks`)."""
    with gr.Tab("Audit", id="audit") as audit_tab:
        gr.Markdown(
            "Did it really forget? The forget, retain and holdout sets picked in *Model & data* are scored "
            "before and after: membership inference (LOSS, zlib, Min-K%, Min-K%++, GradNorm, and the "
            "reference attack and MUSE's PrivLeak against a retain-only model), REMIND's input-loss "
            "landscapes (arXiv 2511.04228) with a verdict per item, TOFU metrics and model utility, "
            "adversarial probes, honesty, and the relearning and quantization attacks. On a 2-core CPU the "
            "default audit (20 items per split, K = 15) takes about 12 to 19 minutes, and the progress line "
            "says about how long is left; fewer items, fewer neighbours or fewer extras under *Also run* are "
            "quicker, more are slower. The audit is saved beside its run.  \n"
            "The holdout set must come from the same source as the forget set (e.g. "
            "`fictitious_authors:forget` with `fictitious_authors:holdout`, after *Teach*): otherwise the "
            "attacks tell the topics apart, not members from non-members."
        )
        with gr.Row():
            aud_source = gr.Dropdown(audit_sources(), value=ACTIVE, label="Audit", scale=4)
            aud_refresh = gr.Button("Refresh runs", scale=1)
            aud_show = gr.Button("Show its saved audit", scale=1)
        import_row("aud", server, refresh_audit_sources, aud_source)
        with gr.Accordion("Audit settings: items, neighbours, probes, surfaces, patching", open=False):
            with gr.Row():
                # each from its setting's declaration, like `python -m unlearn audit`'s flags
                aud_items = widgets.slider(AuditConfig, "max_items", step=1, elem_id="audit-items")
                aud_k = widgets.slider(RemindConfig, "k", step=1, elem_id="audit-k")
                aud_p = widgets.slider(RemindConfig, "p", step=0.1)
                aud_m = widgets.slider(RemindConfig, "m", step=1)
            with gr.Row():
                aud_probes = widgets.slider(AuditConfig, "probe_items", step=1, elem_id="audit-probes")
                aud_surfaces = widgets.slider(AuditConfig, "surface_items", step=1, elem_id="audit-surfaces")
                aud_patched = widgets.slider(AuditConfig, "patch_items", step=1, elem_id="audit-patched")
                aud_relearn = gr.Checkbox(True, label="Relearning attack (5 steps on half the forget set)")
            aud_extras = gr.CheckboxGroup(
                list(EXTRAS),
                value=DEFAULT_EXTRAS,
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
        gr.Markdown(
            "#### Activation patching: where the change lives\nThe first forget items, every layer's residual "
            "stream, attention and MLP output patched between before and after (set *Forget items patched* "
            "above; the Compare tab does one item)."
        )
        patch_plot = gr.Plot(elem_id="plot-audit-patching", show_label=False)
        patch_curves = gr.Plot(elem_id="plot-audit-patching-curves", show_label=False)
        with gr.Row():
            aud_html = gr.DownloadButton("Download the report (HTML, opens offline)", elem_id="audit-html")
            aud_json = gr.DownloadButton("Download every figure (JSON)", elem_id="audit-json")

    views = {"message": aud_msg, "headline": aud_headline, "auc_table": auc_table, "auc_plot": auc_plot}
    views |= {"roc_after": roc_after, "roc_before": roc_before, "features": feat_plot, "scatter": scatter_plot}
    views |= {"verdicts": verdicts, "item": aud_item, "landscape": land_plot, "surface": surface_plot}
    views |= {"tofu_table": tofu_table, "tofu_plot": tofu_plot, "probes": probe_plot, "honesty": honesty_plot}
    views |= {"relearn": relearn_plot, "quantization": quant_plot, "html": aud_html, "json": aud_json}
    views |= {"patching": patch_plot, "patching_curves": patch_curves}
    aud_views = ordered(VIEWS, views)
    form = dict(source=aud_source, items=aud_items, neighbours=aud_k, p=aud_p, m=aud_m, probes=aud_probes)
    form |= dict(relearn_on=aud_relearn, surfaces=aud_surfaces, patched=aud_patched, extras=aud_extras)
    form |= dict(retain_model=aud_retain_model)
    form |= dict(forget=picks.forget, retain=picks.retain, holdout=picks.holdout, user_sets=picks.user_sets)
    aud_btn.click(
        bind(audit_ui, server),
        inputs(AuditForm, form),
        aud_views,
        api_name="audit",
        show_progress_on=aud_msg,  # one spinner: 19 animated overlays cost the audit CPU time on a small machine
        **MODEL_Q,
    )
    aud_cancel.click(bind(audit_cancel_ui, server), None, aud_msg, api_name="audit_cancel")
    aud_show.click(bind(audit_show_ui, server), aud_source, aud_views, api_name="audit_show")
    aud_item.change(audit_item_ui, aud_item, [land_plot, surface_plot], api_name="audit_item")
    aud_refresh.click(refresh_audit_sources, None, aud_source)
    audit_tab.select(refresh_audit_sources, None, aud_source, show_progress="hidden")
    picks.on_change(audit_sets_line, picks.pickers, aud_sets)
    demo.load(audit_sets_line, picks.pickers, aud_sets)
    demo.unload(forget_session)
