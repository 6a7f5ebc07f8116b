"""What every tab shares: the model queue's name, the access policy, the "(none)" choice, error text."""

from __future__ import annotations

import math
from typing import Any

from unlearn.access import AccessPolicy
from unlearn.jobs import Job

MODEL_QUEUE = "model"  # one queue for everything that touches the shared model
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
ACTIVE, AGAINST_ITSELF = "__active__", "__self__"  # run pickers: the run on the model now; the model against itself
ACCESS = AccessPolicy()  # replaced by main() from the command line (--public, --allow-model, ...)
JOBS: dict[str, Job] = {}  # session hash -> its running job, so Cancel stops the right run


def error_line(e: Exception) -> str:
    return f"❌ {e}"


def number(value: Any, label: str, kind: type = float) -> Any:
    """A number box's value as `kind`. A cleared box (None), text, NaN or infinity is refused with a
    message naming the box, instead of int()/float() errors that name nothing."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{label}: type a number (got {value!r})") from None
    if not math.isfinite(x):
        raise ValueError(f"{label} must be a finite number, got {value!r}")
    return int(x) if kind is int else x


def new_tokens(value: Any) -> int:
    """A max-new-tokens box: a whole number from 1 to MAX_NEW_TOKENS."""
    n = number(value, "max new tokens", int)
    if not 1 <= n <= MAX_NEW_TOKENS:
        raise ValueError(f"max new tokens must be between 1 and {MAX_NEW_TOKENS}, got {n}")
    return n


def user_of(request: Any) -> str | None:
    """The logged-in user of a request (None without a login, or when a test calls a handler directly)."""
    return getattr(request, "username", None)
