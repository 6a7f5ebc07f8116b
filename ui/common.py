"""What every tab shares: the model queue's name, the "(none)" choice, error text. The access policy and
the running jobs are the app's Server (unlearn/serve/server.py), handed to each tab when it is built."""

from __future__ import annotations

import functools
import gc
import inspect
import math
import re
import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

from unlearn.errors import UserError
from unlearn.model.pair import ACTIVE, AGAINST_ITSELF  # noqa: F401 (the run pickers' two choices that are no run)

MODEL_QUEUE = "model"  # one queue for everything that touches the shared model
MODEL_Q: dict[str, Any] = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": 1}  # an event's place in it
SOURCES = {
    "Bundled SmolLM2-135M-Instruct": "bundled",
    "Hugging Face hub id": "hub",
    "Local folder (save_pretrained)": "local",
    ".gguf file": "gguf",
}
PLACEHOLDERS = {
    "bundled": "",
    "hub": "e.g. HuggingFaceTB/SmolLM2-135M-Instruct",
    "local": "/path/to/folder with config.json and *.safetensors",
    "gguf": "/path/to/model.gguf",
}
NONE = "(none)"
KEPT_RESULTS = 32  # sessions whose last comparison / audit the server keeps (app.py --kept-results)
MAX_NEW_TOKENS = 512  # the most a handler generates per answer (the sliders stop lower)


def error_line(e: Exception) -> str:
    return f"❌ {e}"


Handler = TypeVar("Handler", bound=Callable[..., Any])


def _out_of_memory(e: BaseException) -> bool:
    """MemoryError, or torch's allocators failing (CUDA "out of memory", CPU "can't allocate memory")."""
    return isinstance(e, MemoryError) or bool(re.search(r"out of memory|can't allocate|cannot allocate", str(e), re.I))


def unexpected_line(e: BaseException) -> str:
    """What a user reads when a handler fails in a way it did not foresee: what happened, what to do."""
    text = re.sub(r"\[Errno \d+\]\s*", "", str(e).strip().split("\n")[0])[:300]
    if isinstance(e, RecursionError):
        what, todo = "the input is nested too deeply to process", "Flatten the data, or use a smaller input."
    elif _out_of_memory(e):
        what = "the server ran out of memory"
        todo = "Use a smaller file, fewer or shorter items, or a smaller batch size or max length."
    else:
        what = f"an unexpected error ({type(e).__name__}{': ' + text if text else ''})"
        todo = "Try again; if it happens again, report it with the server's log."
    return f"❌ This step failed: {what}. {todo} The loaded model and earlier runs are unchanged."


def guarded(outputs: int = 1, message: int | None = 0) -> Callable[[Handler], Handler]:
    """Decorate a handler with `outputs` outputs so that an exception it did not foresee (RecursionError,
    MemoryError, a torch RuntimeError...) never reaches Gradio, which would put red "Error" badges on
    every output and block the page: the traceback goes to stderr, output `message` gets a ❌ line
    saying what to do, and every other output is skipped (state, such as the session's sets, is kept).
    With `message=None` (no message box among the outputs) the line is shown as a warning pop-up.
    Works on plain and generator (streaming) handlers; on success the outputs pass through unchanged.

        @guarded(outputs=5, message=4)
        def save_edits(...) -> tuple[UserSets, dict, dict, dict, str]: ...
    """

    def refusal(fn: Callable[..., Any], e: Exception) -> Any:
        print(f"{fn.__module__}.{fn.__name__} failed:", file=sys.stderr)
        traceback.print_exception(e, file=sys.stderr)
        if _out_of_memory(e):
            gc.collect()  # give the refused request's memory back now
        line = unexpected_line(e)
        out = [gr.skip()] * outputs
        if message is None:
            gr.Warning(line)
        else:
            out[message] = line
        return None if outputs == 0 else out[0] if outputs == 1 else tuple(out)

    def wrap(fn: Handler) -> Handler:
        if inspect.isgeneratorfunction(fn):  # Gradio streams only what it sees as a generator function

            @functools.wraps(fn)
            def stream(*args: Any, **kwargs: Any) -> Any:
                try:
                    yield from fn(*args, **kwargs)
                    return
                except Exception as e:  # the point: nothing escapes to Gradio
                    out = refusal(fn, e)
                yield out  # outside the except: a paused generator must not hold the failed frames

            return stream  # type: ignore[return-value]

        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except Exception as e:
                return refusal(fn, e)

        return call  # type: ignore[return-value]

    return wrap


def number(value: Any, label: str, kind: type = float) -> Any:
    """A number box's value as `kind`. A cleared box (None), text, NaN or infinity is refused with a
    message naming the box, instead of int()/float() errors that name nothing."""
    try:
        x = float(value)
    except (TypeError, ValueError):  # parsing: float() of a cleared box (None) or of text
        raise UserError(f"{label}: type a number (got {value!r})") from None
    if not math.isfinite(x):
        raise UserError(f"{label} must be a finite number, got {value!r}")
    return int(x) if kind is int else x


def new_tokens(value: Any) -> int:
    """A max-new-tokens box: a whole number from 1 to MAX_NEW_TOKENS."""
    n = number(value, "max new tokens", int)
    if not 1 <= n <= MAX_NEW_TOKENS:
        raise UserError(f"max new tokens must be between 1 and {MAX_NEW_TOKENS}, got {n}")
    return n


def user_of(request: Any) -> str | None:
    """The logged-in user of a request (None without a login, or when a test calls a handler directly)."""
    return getattr(request, "username", None)
