"""After = a checkpoint made elsewhere: the import row that Compare, Audit and Runs each show, its
layout, its wiring and its handler (one place, so the three tabs cannot drift apart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr

from ui.common import MODEL_Q, error_line, guarded, user_of
from ui.forms import bind
from unlearn.model import pair
from unlearn.serve.server import Server

IMPORT_HELP = (
    "*Before* is the model loaded in Model & data; *after* is the checkpoint given here: a folder written by "
    "`save_pretrained` (safetensors), a hub id, a `.gguf` file, or a PEFT LoRA adapter folder (put on the loaded "
    "model). It must be the loaded model changed: same architecture, shapes and tokenizer, else the message says "
    "what differs. Only the tensors that differ are kept (an adapter as it is, no copy of the base), saved as a run "
    "of kind *imported*: listed in Runs, compared, audited, exported and deleted like any run."
)


@guarded()
def import_ui(
    after: str,
    name: str,
    request: gr.Request | None = None,
    progress=gr.Progress(),
    *,
    server: Server,  # noqa: B008
) -> str:
    """Pair a checkpoint made elsewhere with the loaded model, save it as a run and put it on the model."""
    try:
        record = pair.import_after(
            after, server.access, user_of(request), name, progress=lambda f, m: progress(f, desc=m)
        )
    except (ValueError, RuntimeError, OSError) as e:  # PairError, ModelLoadError, AccessDenied among them
        return error_line(e) + "  \nNothing was imported; the model is as it was."
    a = record["after"]
    return (
        f"✅ Imported `{a['name']}` as run `{record['id']}`: {a['summary']}. The model is now its *after*; "
        "Compare and Audit use it (pick it again there after opening another run)."
    )


def import_row(tab: str, server: Server, then: Callable[[], Any], shown: Any, api_name: str | bool = False) -> None:
    """The row in one tab; after an import `then` refreshes that tab's picker(s) `shown`, so it lists the pair."""
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
    btn.click(bind(import_ui, server), [path, name], msg, api_name=api_name, **MODEL_Q).then(
        then, None, shown, show_progress="hidden"
    )
