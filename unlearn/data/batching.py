"""Examples in, padded batches out: the one place that encodes examples and collates them for a forward.

Every loop that scores or trains on examples (answer NLL, the membership attacks, GradNorm, the
relearning attack, teaching, the bench) walks them through `batches`, or, where the caller already
holds one batch's examples, `encode_batch`. Both keep the order of the examples, right-pad with the
tokenizer's pad token (0 where it has none), cut each example at `max_length` as `encode` does, and
put the tensors on `device` (left on the CPU when it is None). Example::

    for rows, batch in batches(examples, tokenizer, batch_size=16, max_length=256, device=device):
        total, count = sequence_nll(*answer_logits(model, batch))  # one value per row of `rows`
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from transformers import PreTrainedTokenizerBase

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.errors import UserError

Batch = dict[str, torch.Tensor]  # input_ids, attention_mask, labels: each (B, T)


def pad_id_of(tokenizer: PreTrainedTokenizerBase) -> int:
    """The id batches are padded with: the tokenizer's pad token, 0 where it has none."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0


def encode_batch(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    max_length: int = 256,
    device: torch.device | None = None,
    *,
    add_eos: bool = False,
    pad_id: int | None = None,
) -> Batch:
    """One batch for `model(**batch)`: every example encoded (`encode`), right-padded, in order."""
    pad = pad_id_of(tokenizer) if pad_id is None else pad_id
    return collate([encode(tokenizer, ex, max_length, add_eos=add_eos) for ex in examples], pad, device)


def batches(
    examples: Sequence[Example],
    tokenizer: PreTrainedTokenizerBase,
    batch_size: int,
    max_length: int = 256,
    device: torch.device | None = None,
    *,
    add_eos: bool = False,
    pad_id: int | None = None,
) -> Iterator[tuple[list[Example], Batch]]:
    """Consecutive slices of `batch_size` examples (the last one may be shorter), each with its
    encoded batch: row r of the batch is example r of the slice. Lazy: a batch is encoded only when
    the loop asks for it."""
    if batch_size < 1:
        raise UserError(f"batch_size must be at least 1, got {batch_size}")
    for i in range(0, len(examples), batch_size):
        rows = list(examples[i : i + batch_size])
        yield rows, encode_batch(rows, tokenizer, max_length, device, add_eos=add_eos, pad_id=pad_id)
