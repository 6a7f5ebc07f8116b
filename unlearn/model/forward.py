"""One forward pass that computes the vocabulary head only where a loss looks.

Every loss and probability in this project reads the answer tokens only. The output head of a
small model is a large share of its work (SmolLM2-135M: a 576 x 49,152 matrix, a fifth of the
weights) and its logits the largest tensor of a step (B x T x V floats, 49,152 per position).
Asking the model for the logits of the answer window alone (HF `logits_to_keep`) cuts both
memory and time of every step without changing any value a loss sees.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from transformers import PreTrainedModel

from unlearn.data.prompts import IGNORE

Batch = dict[str, torch.Tensor]


def answer_window(labels: torch.Tensor) -> slice:
    """Columns a shifted answer loss needs: from the position before the first answer token of any
    row to the last answer token of any row (its logits are dropped by `losses.shift`, but keeping
    it lets labels and logits share one slice)."""
    cols = (labels != IGNORE).any(0).nonzero().flatten()  # (K,) columns holding an answer token
    if len(cols) == 0:
        return slice(0, labels.shape[1])
    return slice(max(int(cols[0]) - 1, 0), int(cols[-1]) + 1)


def accepts(model: PreTrainedModel, argument: str) -> bool:
    """Whether the model's forward takes `argument`, cached on the class: remote-code or older models
    may not take `logits_to_keep` or `use_cache`."""
    cls = type(model)
    known = cls.__dict__.get("_unlearn_accepts")
    if known is None:
        known = set(inspect.signature(model.forward).parameters)
        cls._unlearn_accepts = known
    return argument in known


def accepts_logits_to_keep(model: PreTrainedModel) -> bool:
    return accepts(model, "logits_to_keep")


def answer_forward(model: PreTrainedModel, batch: Batch, **kwargs: Any) -> tuple[Any, torch.Tensor]:
    """The model's output with logits (B, W, V) over the answer window only, and the labels aligned
    with them (B, W). `kwargs` go to the model (e.g. `output_attentions`, or `inputs_embeds` in
    place of the ids)."""
    window = answer_window(batch["labels"])
    # no KV cache: nothing generates from it, and a cache built per forward would make compiled layers
    # (compiled.py) recompile for each layer's cache slot
    inputs = {"attention_mask": batch["attention_mask"], **kwargs}
    if accepts(model, "use_cache"):
        inputs.setdefault("use_cache", False)
    if "inputs_embeds" not in inputs:
        inputs["input_ids"] = batch["input_ids"]
    if accepts_logits_to_keep(model):
        keep = torch.arange(window.start, window.stop, device=batch["labels"].device)
        out = model(**inputs, logits_to_keep=keep)
    else:
        out = model(**inputs)
        out.logits = out.logits[:, window]
    return out, batch["labels"][:, window]


def answer_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, W, V) over the answer window and the labels aligned with them (B, W): what
    `losses.token_nll` and friends take, exactly as they would take the full-width pair."""
    out, labels = answer_forward(model, batch)
    return out.logits, labels
