"""One forward pass that computes the vocabulary head only where a loss looks.

Every loss and probability in this project reads the answer tokens only. The output head of a
small model is a large share of its work (SmolLM2-135M: a 576 x 49,152 matrix, a fifth of the
weights) and its logits the largest tensor of a step (B x T x V floats, 49,152 per position).
Asking the model for the logits of the answer window alone (HF `logits_to_keep`) cuts both
memory and time of every step without changing any value a loss sees.

The window is shared by the batch's rows (`logits_to_keep` takes one set of columns), so a row with
a long question and a short answer beside one with a short question and a long answer gets the
head on both spans: on a batch of eight harry_potter items about twice the answers' own positions.
`answer_logits` therefore gathers each row's own answer span in front of the head (`answer_rows`,
a pre-hook on the output embeddings, so that a model's own logit scaling or soft-capping after its
head still applies) and returns the rows compacted: logit j of a row still predicts its label j + 1
(`losses.shift`), which is all a loss reads, and every method's (logits, labels) pairs come from the
same function, so a reference pass and the pass it is compared with share one layout.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from transformers import PreTrainedModel

from unlearn.data.prompts import IGNORE
from unlearn.model.hooks import forward_hooks

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


def answer_rows(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's own answer span within a window's labels (B, K): the columns to keep, (B, W) indices
    from the one before the row's first answer token to its last (repeating the last beyond it), and
    the labels at them, IGNORE beyond the span. W is the longest span, at most K.

    >>> labels = torch.tensor([[IGNORE, IGNORE, 5, 6], [IGNORE, 7, IGNORE, IGNORE]])
    >>> take, kept = answer_rows(labels)
    >>> take.tolist(), kept.tolist()
    ([[1, 2, 3], [0, 1, 1]], [[-100, 5, 6], [-100, 7, -100]])
    """
    answered = labels != IGNORE
    b, k = labels.shape
    has = answered.any(1)
    first = torch.where(has, answered.int().argmax(1) - 1, 0).clamp(min=0)  # (B,)
    last = torch.where(has, k - 1 - answered.flip(1).int().argmax(1), first)  # (B,)
    width = int((last - first).max()) + 1 if b else 1
    cols = first[:, None] + torch.arange(width, device=labels.device)  # (B, W)
    take = torch.minimum(cols, last[:, None])
    return take, labels.gather(1, take).masked_fill(cols > last[:, None], IGNORE)


@contextmanager
def head_rows(model: PreTrainedModel, take: torch.Tensor) -> Iterator[list[bool]]:
    """Inside the block, a head input of (B, K, H) (the answer window's hidden states) has each row's
    `take` columns gathered first, (B, W, H): the head then runs on those positions only. Yields a
    list that holds True once that happened (a model without a separate head module computes the
    window, and the caller gathers its logits instead)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    fired: list[bool] = []
    if not isinstance(head, torch.nn.Module):
        yield fired
        return

    def gather(_module: torch.nn.Module, args: tuple) -> tuple | None:
        x = args[0] if args else None
        if fired or not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[0] != take.shape[0]:
            return None
        if x.shape[1] < int(take.max()) + 1:
            return None  # not the window's hidden states: leave this call alone
        fired.append(True)
        return (gather_rows(x, take), *args[1:])

    # this thread's forward only: cpu_streams.py runs two forwards of the model side by side
    with forward_hooks([(head, gather)], pre=True, this_thread=True):
        yield fired


def gather_rows(x: torch.Tensor, take: torch.Tensor) -> torch.Tensor:
    """(B, K, D) -> (B, W, D) at each row's `take` columns: the window's hidden states before the head,
    or its logits where the head ran on the whole window."""
    return x.gather(1, take[..., None].expand(-1, -1, x.shape[-1]))


def answer_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, W, V) of each row's own answer span and the labels aligned with them (B, W)
    (`answer_rows`): what `losses.token_nll` and friends take, giving the values they would give on
    the full-width pair."""
    window = batch["labels"][:, answer_window(batch["labels"])]
    return span_logits(model, window, lambda: answer_forward(model, batch)[0])


def span_logits(
    model: PreTrainedModel, window_labels: torch.Tensor, forward: Callable[[], Any]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run `forward` (a model call whose head input is the window of `window_labels`, (B, K)) with the
    head on each row's answer span only; its logits (B, W, V) and labels (B, W) (`answer_rows`)."""
    take, labels = answer_rows(window_labels)
    with head_rows(model, take) as fired:
        logits = forward().logits
    return (logits if fired else gather_rows(logits, take)), labels
