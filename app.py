"""Unlearning Inspector: the Gradio app. A page, not a program: each tab builds its own layout and
wiring in `ui/<tab>/page.py` (handlers beside it in `ui/<tab>/handlers.py`), the work is in `unlearn/`
(models, data, training, inspection, audit) and `viz/` (figures and cards).

    python app.py [--model bundled] [--port 7860] [--host 127.0.0.1]
"""

from __future__ import annotations

import gradio as gr

from ui.audit_tab import page as audit_page
from ui.audit_tab.handlers import AUDITS
from ui.compare_tab import page as compare_page
from ui.data_tab import page as data_page
from ui.guide_tab import page as guide_page
from ui.runs_tab import page as runs_page
from ui.server import parse_args, server_settings
from ui.shared import RESULTS
from ui.unlearn_tab import page as unlearn_page
from unlearn.model.models import BUNDLED
from unlearn.serve.access import AccessDenied
from unlearn.serve.server import Server
from unlearn.serve.store import STORE


def build_demo(server: Server | None = None) -> gr.Blocks:
    """The page: a header, the five tabs in the order of the work (data → unlearn → inspect → audit →
    runs) and the guided demo, each handed the app's `server` (its access policy and running jobs; an
    open local one by default)."""
    server = server or Server()
    with gr.Blocks(title="Unlearning Inspector") as demo:
        gr.Markdown(
            "# Unlearning Inspector\n"
            "Load a language model, choose what it should **forget** and what it must **retain**, unlearn, "
            "then look inside: before | after, token by token, head by head. New to unlearning? The **Guided "
            "demo** tab tells the story in six steps."
        )
        with gr.Tabs():
            picks = data_page.build(demo, server)  # the set pickers the other tabs read
            unlearn_page.build(demo, picks, server)
            compare_page.build(demo, picks, server)
            audit_page.build(demo, picks, server)
            runs_page.build(server)
            guide_page.build(server)  # the story in six buttons, for a class (it uses the model as the tabs do)
    return demo


def serve(argv: list[str] | None = None, block: bool = True) -> gr.Blocks:
    """Start the app from its command-line flags (`argv`; None reads sys.argv). `block=False` returns the
    running app at once, to be stopped with `close()`: the browser tests start it so, in their own process,
    instead of paying the libraries' import (~15 s on 2 cores) once per test."""
    args = parse_args(argv)
    try:
        access, launch = server_settings(args)
    except AccessDenied as e:
        raise SystemExit(f"error: {e}") from None
    if not args.no_model:
        first = " (the first time converts the bundled GGUF, ~10 s)" if args.model == BUNDLED else ""
        print(f"Loading {args.model}{first}…", flush=True)
        lm = STORE.load(args.model, device=args.device)
        print(f"Loaded {lm.name} on {lm.device} in {lm.load_seconds:.1f} s", flush=True)
    RESULTS.max_sessions = AUDITS.max_sessions = max(1, args.kept_results)
    demo = build_demo(Server(access))
    demo.queue(max_size=64, default_concurrency_limit=4)
    try:
        demo.launch(**launch, prevent_thread_lock=not block)
    except BaseException:  # a server started before the failure must not outlive it (in a test's process)
        demo.close()
        raise
    return demo


def main() -> None:
    serve()


if __name__ == "__main__":
    main()
