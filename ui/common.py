"""What every tab shares: the model queue's name, the access policy, the "(none)" choice, error text."""

from __future__ import annotations

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
ACCESS = AccessPolicy()  # replaced by main() from the command line (--public, --allow-model, ...)


ACTIVE, AGAINST_ITSELF = "__active__", "__self__"  # run pickers: the run on the model now; the model against itself
JOBS: dict[str, Job] = {}  # session hash -> its running job, so Cancel stops the right run


def error_line(e: Exception) -> str:
    return f"❌ {e}"
