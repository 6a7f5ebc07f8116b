"""Guided demo tab, layout and wiring: six steps, each its text for a class, its button and its result."""

from __future__ import annotations

import gradio as gr

from ui.common import MODEL_Q
from ui.forms import bind
from ui.guide_tab.handlers import audit_ui, changed_ui, knows_ui, layer_ui, token_ui, unlearn_ui
from unlearn.serve import guided
from unlearn.serve.server import Server

STEPS = (
    (
        "1. What does the model know?",
        "A language model learns facts from its training text. This small model (135 million parameters) "
        f"read about Harry Potter: we ask it the questions of `{guided.FORGET}` and measure how likely it "
        "finds each true answer.",
    ),
    (
        "2. Unlearn",
        "Now we make it forget those questions with **NPO** (negative preference optimisation): a few "
        "gradient steps that push the probability of the forget answers down, compared against a frozen copy "
        "of the model as it was, while general-knowledge questions keep it from forgetting everything. "
        "Watch the forget probability fall and the retain probability stay.",
    ),
    (
        "3. The answer changed",
        "The same question, asked before and after. If unlearning worked, the answer no longer names the fact.",
    ),
    (
        "4. The token that fell",
        "A model writes one token at a time. Scoring the true answer token by token shows *where* the run "
        "pushed: usually one or two tokens carry the fact, and their probability collapses.",
    ),
    (
        "5. The layer where it stopped",
        "Inside, the model builds its guess layer by layer. The logit lens reads that guess after every layer: "
        "we see at which depth the true token appeared before, and whether it still appears after.",
    ),
    (
        "6. Did it really forget?",
        "Looking changed is not being forgotten. An audit asks whether the forgotten questions now look like "
        "questions the model never saw (membership inference, REMIND's loss landscape), and whether rounding "
        "the weights to 4 bits brings the answers back (the quantization attack).",
    ),
)


# each step's button: what pressing it does
ACTIONS = (
    "Ask the model",
    "Unlearn (about a minute)",
    "Ask again",
    "Score the answer",
    "Read the layers",
    "Audit (about two minutes)",
)


def _step(i: int) -> tuple[gr.Button, gr.Markdown]:
    """Step i's text, button and note (its results follow it in the same group)."""
    title, text = STEPS[i - 1]
    gr.Markdown(f"#### {title}\n{text}")
    btn = gr.Button(f"{i}. {ACTIONS[i - 1]}", elem_id=f"guide-btn-{i}", variant="primary")
    return btn, gr.Markdown(elem_id=f"guide-note-{i}")


def build(server: Server) -> None:
    """The tab: it needs only the loaded model; the run it makes is listed in Runs like any other."""
    with gr.Tab("Guided demo", id="guide"):
        gr.Markdown(
            "### Unlearning in six steps\nA walk through one unlearning run on the model loaded now (the bundled "
            "SmolLM2-135M by default), one button per step, about five minutes in all on a laptop. Each step "
            "uses the same code as the tabs: afterwards Compare, Audit and Runs show the same run in full."
        )
        with gr.Group():
            b1, n1 = _step(1)
            known = gr.Dataframe(
                headers=["question", "the model's answer", "gold answer", "P(gold)"],
                wrap=True,
                column_widths=["26%", "42%", "24%", "8%"],
                elem_id="guide-known",
            )
        with gr.Group():
            b2, n2 = _step(2)
            curves = gr.Plot(elem_id="guide-curves", show_label=False)
            table = gr.Dataframe(headers=["set", "P̃ before", "P̃ after", "after / before"], elem_id="guide-table")
        with gr.Group():
            b3, n3 = _step(3)
            with gr.Row():
                before = gr.HighlightedText(label="Before", color_map={"removed": "#f4a261"}, elem_id="guide-before")
                after = gr.HighlightedText(label="After", color_map={"added": "#e76f51"}, elem_id="guide-after")
        with gr.Group():
            b4, n4 = _step(4)
            strips = gr.Plot(elem_id="guide-strips", show_label=False)
            topk = gr.Plot(elem_id="guide-topk", show_label=False)
        with gr.Group():
            b5, n5 = _step(5)
            lens = gr.Plot(elem_id="guide-lens", show_label=False)
        with gr.Group():
            b6, n6 = _step(6)
            with gr.Row():
                aucs = gr.Plot(elem_id="guide-aucs", show_label=False)
                quant = gr.Plot(elem_id="guide-quant", show_label=False)

    b1.click(knows_ui, None, [n1, known], api_name="guide_knows", **MODEL_Q)
    # one spinner per long step, on its status line, not over the plots it redraws (as the Unlearn tab's run)
    b2.click(
        bind(unlearn_ui, server), None, [n2, curves, table], api_name="guide_unlearn", show_progress_on=n2, **MODEL_Q
    )
    b3.click(bind(changed_ui, server), None, [n3, before, after], api_name="guide_changed", **MODEL_Q)
    b4.click(token_ui, None, [n4, strips, topk], api_name="guide_token")
    b5.click(layer_ui, None, [n5, lens], api_name="guide_layer")
    b6.click(bind(audit_ui, server), None, [n6, aucs, quant], api_name="guide_audit", show_progress_on=n6, **MODEL_Q)
