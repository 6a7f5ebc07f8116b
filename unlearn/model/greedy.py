"""Greedy answers to prompts of different lengths, prefilled apart and decoded together.

`model.generate` on a left-padded batch computes every padding column like text, in the prefill and in
every decode step, so `scoring.generate_answers` splits prompts into batches of similar length. But a
decode step has a fixed cost whatever its batch (every layer's launch, skinny matmuls: on 2 cores a
row costs about half as much in a batch of 64 as in a batch of 8), and the audit's adversarial probes,
whose prompts run from 40 to 160 tokens, then decode in four or five small batches.

Here each batch of similar length is prefilled alone (no padding computed beyond its own), the
batches' KV caches are joined, left-padded to the longest, into one cache, and every row decodes in
one batch; a row that has written its end-of-sequence token leaves the batch (its cache rows are
dropped), so the steps after it cost less. Within a batch, rows that open alike (the chat template's
system prompt, a few-shot probe's worked examples) run that opening once. The tokens are those of
greedy `generate` (argmax at each step, the same positions, the same mask; float rounding aside:
`tests/test_greedy.py`).

A model whose generation config adds logits processors (a repetition penalty, banned words, a minimum
length...), whose cache is not plain per-layer keys and values (sliding windows, state-space layers)
or whose forward takes no cache or position ids, is left to `generate` (`decode` returns None).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache, GenerationConfig, PreTrainedModel
from transformers.cache_utils import DynamicLayer

from unlearn.model.forward import accepts
from unlearn.model.prefix import plain_cache

MIN_SHARED = 8  # shorter openings are not worth the extra call (prefix.py)
NEEDS = ("past_key_values", "use_cache", "position_ids", "attention_mask", "logits_to_keep")
# generation-config fields that make `generate` change the logits before its argmax: with any of them
# set away from its default the tokens would differ, so `generate` does the work
PROCESSORS = (
    "repetition_penalty",
    "encoder_repetition_penalty",
    "no_repeat_ngram_size",
    "bad_words_ids",
    "min_length",
    "min_new_tokens",
    "suppress_tokens",
    "begin_suppress_tokens",
    "forced_bos_token_id",
    "forced_eos_token_id",
    "sequence_bias",
    "exponential_decay_length_penalty",
    "renormalize_logits",
    "guidance_scale",
    "watermarking_config",
)


def applies(model: PreTrainedModel) -> bool:
    """Whether `decode` gives `generate`'s greedy tokens for this model (see the module)."""
    config = getattr(model, "generation_config", None) or GenerationConfig()
    default = GenerationConfig()
    plain = all(getattr(config, f, None) == getattr(default, f, None) for f in PROCESSORS)
    return plain and all(accepts(model, a) for a in NEEDS)


def end_tokens(model: PreTrainedModel) -> set[int]:
    """The ids that end an answer: the generation config's end-of-sequence ids, as `generate` reads them
    (with none there, `generate` writes on to the last new token, and so does `decode`)."""
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    return set() if eos is None else set(eos if isinstance(eos, list | tuple) else [eos])


def _prefill(
    model: PreTrainedModel, batch: dict[str, torch.Tensor]
) -> tuple[torch.Tensor, DynamicCache, torch.Tensor] | None:
    """One left-padded batch's next-token logits (B, V), its KV cache and the cache's mask (B, T); None
    for a cache of another kind. Rows that open alike (a chat template's system prompt, a few-shot
    probe's worked examples) run that opening once: the cache then holds it, the rows' padding, then
    their own tokens, and the mask says so."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    rows = [r[m.bool()] for r, m in zip(ids, mask, strict=True)]  # each prompt without its padding
    p = _opening(rows) if len(rows) >= 2 else 0
    cache = None
    if p >= MIN_SHARED:
        cache = model(input_ids=rows[0][None, :p], use_cache=True, logits_to_keep=1).past_key_values
        if not plain_cache(cache, sliding=False):
            return None
        cache.batch_repeat_interleave(len(rows))
        rest = [r[p:] for r in rows]
        width = max(len(r) for r in rest)
        ids = torch.stack([F.pad(r, (width - len(r), 0)) for r in rest])
        own = torch.stack([F.pad(torch.ones_like(r), (width - len(r), 0)) for r in rest])
        mask = torch.cat([own.new_ones(len(rows), p), own], 1)
    out = model(
        input_ids=ids,
        attention_mask=mask,
        # from each row's first real token, as `generate` numbers them
        position_ids=(mask.cumsum(-1) - 1).clamp(min=0)[:, -ids.shape[1] :],
        past_key_values=cache,
        use_cache=True,
        logits_to_keep=1,
    )
    cache = out.past_key_values
    if not plain_cache(cache, sliding=False):  # a window would count the joined batches' padding
        return None
    return out.logits[:, -1], cache, mask


def next_logits(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
    """The next-token logits (B, V) of a left-padded batch of prompts, their shared opening run once
    (`_prefill`); None for a model this cannot run (`scoring.next_token_logits` then does)."""
    if not all(accepts(model, a) for a in NEEDS):
        return None
    got = _prefill(model, batch)
    return None if got is None else got[0]


def _opening(rows: Sequence[torch.Tensor]) -> int:
    """How many first tokens every row has alike, stopping before each row's last (its logits are read)."""
    n = min(len(r) for r in rows) - 1
    same = torch.stack([r[:n] == rows[0][:n] for r in rows]).all(0)  # (n,)
    return int(same.int().cumprod(0).sum())


class RoomyLayer(DynamicLayer):
    """A layer's keys and values kept as the first columns of buffers with room for `room` more. A
    `DynamicLayer` concatenates its whole cache with each decode step's column, a copy of every layer's
    keys and values per new token: on 100 rows of ~120 tokens a sixth of the decode's time (2 CPU cores).
    Here the new column is written in place and `keys` / `values` are views of the buffers' filled part."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int) -> None:
        super().__init__()
        b, h, t, d = keys.shape
        self._k, self._v = keys.new_empty(b, h, t + room, d), values.new_empty(b, h, t + room, values.shape[-1])
        self._k[:, :, :t], self._v[:, :, :t] = keys, values
        self.keys, self.values = self._k[:, :, :t], self._v[:, :, :t]
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs) -> tuple[torch.Tensor, ...]:
        t, n = self.keys.shape[-2], key_states.shape[-2]
        if t + n > self._k.shape[-2]:  # out of room: grow as DynamicLayer does
            self._k, self._v = self.keys, self.values
            return super().update(key_states, value_states, *args, **kwargs)
        self._k[:, :, t : t + n], self._v[:, :, t : t + n] = key_states, value_states
        self.keys, self.values = self._k[:, :, : t + n], self._v[:, :, : t + n]
        return self.keys, self.values

    def batch_select_indices(self, indices: torch.Tensor) -> None:
        t = self.keys.shape[-2]
        self._k, self._v = self._k[indices, ...], self._v[indices, ...]
        self.keys, self.values = self._k[:, :, :t], self._v[:, :, :t]


def _join(caches: Sequence[DynamicCache], width: int, room: int) -> DynamicCache:
    """The batches' caches as one, each left-padded with zeros to `width` columns (masked out), with
    room for `room` decoded columns (`RoomyLayer`)."""
    layers = zip(*[[(k, v) for k, v, _ in c] for c in caches], strict=True)  # per layer: every batch's (k, v)
    joined = DynamicCache(
        [
            tuple(torch.cat([F.pad(kv[i], (0, 0, width - kv[i].shape[-2], 0)) for kv in per_batch]) for i in (0, 1))
            for per_batch in layers
        ]
    )
    joined.layers = [RoomyLayer(layer.keys, layer.values, room) for layer in joined.layers]
    return joined


@torch.inference_mode()
def decode(
    model: PreTrainedModel, batches: Sequence[dict[str, torch.Tensor]], max_new_tokens: int, ends: set[int]
) -> list[list[int]] | None:
    """Greedy new tokens (an end token included where one was written) for every row of `batches`
    (left-padded prompts, `scoring.encode_prompts`), in their order; None where `generate` must do it."""
    if not applies(model):
        return None
    firsts, caches, masks = [], [], []
    for batch in batches:
        got = _prefill(model, batch)
        if got is None:
            return None
        firsts.append(got[0].argmax(-1))
        caches.append(got[1])
        masks.append(got[2])
    width = max(m.shape[1] for m in masks)
    mask = torch.cat([F.pad(m, (width - m.shape[1], 0)) for m in masks])
    cache = _join(caches, width, max_new_tokens)
    del caches
    token = torch.cat(firsts)  # (B,)
    written: list[list[int]] = [[] for _ in range(len(token))]
    live = torch.arange(len(token), device=token.device)  # the rows still writing, as indices into `written`
    stop = torch.tensor(sorted(ends), device=token.device, dtype=token.dtype)
    for step in range(max_new_tokens):
        for row, t in zip(live.tolist(), token.tolist(), strict=True):
            written[row].append(t)
        going = ~torch.isin(token, stop)  # (B',) rows that did not just end
        if step == max_new_tokens - 1 or not going.any():
            break
        if not going.all():  # finished rows leave the batch: their cache rows are dropped
            keep = going.nonzero().flatten()
            cache.batch_select_indices(keep.cpu())  # CPU indices: a cache on any device, or split over several
            live, token, mask = live[keep], token[keep], mask[keep]
        position = mask.sum(1, keepdim=True)  # (B', 1): the new token's position, real tokens counted
        mask = torch.cat([mask, mask.new_ones(len(mask), 1)], 1)
        logits = model(
            input_ids=token[:, None], attention_mask=mask, position_ids=position, past_key_values=cache, use_cache=True
        ).logits[:, -1]
        token = logits.argmax(-1)
    return written
