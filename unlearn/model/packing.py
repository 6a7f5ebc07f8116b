"""Run a batch's rows one after another in a single sequence, without their padding.

A batch is right-padded to its longest row, and every linear layer works on every column, padding
too. On the quick demo's training batches (8 rows of 54-65 tokens, the chat template's 24-token
opening run once by prefix.py) 19% of the rows' own columns are padding; on its sorted scoring
batches 18%, on the live curve's 16-item sample 30%. Here the rows' own tokens are laid end to end
in one row of N tokens, each keeping its position ids, and a block-diagonal causal mask lets a token
see the shared opening (run once, its KV cache kept for batch one) and the earlier tokens of its own
row only: the logits of the padded forward (float rounding aside: `tests/test_packing.py`), from N
instead of B x (T - P) positions.

Attention then spans the whole packed row (N x (P + N) scores instead of B x (T - P) x T), so packing
pays only while the rows are short against the model's width: `worth_packing` compares the two
costs and keeps the padded forward where attention would eat the saving (long rows, many of them).

It applies to the model families `tests/test_packing.py` checks against their padded forward
(`PACKED_FAMILIES`), on the SDPA or eager kernel (a FlashAttention-2 model would need its own varlen
call), on attention that is not limited to a window shorter than the batch, and not inside
checkpointed or compiled layers (prefix.py's conditions). Elsewhere the caller's padded forward runs.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from unlearn.model.forward import Batch, accepts, answer_rows, answer_window
from unlearn.model.kernels import EAGER, SDPA, kernel_of
from unlearn.model.prefix import NEEDS, plain_cache, rewritten, shared_columns

# model types whose packed forward tests/test_packing.py compares with the padded one: their position
# ids drive the rotary or learned positions, and their layers take a prepared 4-D mask as it is
PACKED_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "olmo2", "gpt2", "gpt_neox", "opt", "smollm3"}
)
SAVING = 0.95  # packed must cost under this share of padded (mask and gathers are not free)
MAX_SCORES = 1 << 24  # N x (P + N) mask entries at most: 64 MiB as fp32 scores per head on eager


def attention_share(model: PreTrainedModel) -> float:
    """FLOPs of one (query, key) pair's attention over the FLOPs of one position through one
    layer's weights: 4 x width / (2 x weights per layer)."""
    config = model.config.get_text_config()
    layers = int(getattr(config, "num_hidden_layers", 0) or getattr(config, "n_layer", 0) or 1)
    embed = model.get_input_embeddings()
    width = int(embed.embedding_dim)
    head = model.get_output_embeddings()
    outside = embed.weight.numel()
    if isinstance(head, torch.nn.Module) and head.weight is not embed.weight:
        outside += head.weight.numel()
    # every weight a position passes through, LoRA's too (forward.matmul_params would leave LoRA out: the
    # bench counts it apart), so a run's adapters weigh in the choice as they weigh in the cost
    per_layer = max((sum(p.numel() for p in model.parameters()) - outside) / layers, 1)
    return 2 * width / per_layer


def worth_packing(share: float, rows: int, columns: int, opening: int, tokens: int) -> bool:
    """Whether `tokens` packed positions attending over the opening and each other cost under SAVING
    of `rows` x (`columns` - `opening`) padded positions attending over `columns` keys each, with
    `share` as `attention_share` gives it.

    >>> worth_packing(3e-4, rows=8, columns=65, opening=24, tokens=272)  # the demo's widest batch
    True
    >>> worth_packing(3e-4, rows=64, columns=65, opening=24, tokens=2200)  # attention would dominate
    False
    """
    padded = rows * (columns - opening) * (1 + share * columns)
    packed = tokens * (1 + share * (opening + tokens))
    return packed < SAVING * padded and tokens * (opening + tokens) <= MAX_SCORES


def packable(model: PreTrainedModel, columns: int) -> bool:
    """Whether this model's forward can take a packed row of a batch `columns` wide (see the module)."""
    config = model.config.get_text_config()
    window = getattr(config, "sliding_window", None) if getattr(config, "use_sliding_window", True) else None
    return (
        getattr(config, "model_type", None) in PACKED_FAMILIES
        and kernel_of(model) in (SDPA, EAGER)
        and all(accepts(model, a) for a in NEEDS)
        and not rewritten(model)
        and (window is None or window >= columns)  # a window wider than every row: full attention
    )


def block_mask(
    rows: torch.Tensor, positions: torch.Tensor, opening: int, dtype: torch.dtype, eager: bool
) -> torch.Tensor:
    """(1, 1, N, P + N) mask of the packed row: every token sees the opening's P columns, and a token
    of its own row at or before its position. SDPA takes it as booleans (True: attend), the eager
    kernel adds it to the scores (0 or the dtype's lowest value)."""
    same = (rows[:, None] == rows[None, :]) & (positions[None, :] <= positions[:, None])  # (N, N)
    allowed = torch.cat([same.new_ones(len(rows), opening), same], 1)[None, None]
    if not eager:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=rows.device).masked_fill(~allowed, torch.finfo(dtype).min)


def packed_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each row's answer-span logits (B, W, V) and labels (B, W), as `forward.answer_logits` gives
    them, from one packed row (the opening run once where the rows share one); None where packing
    cannot apply or would not pay (see the module)."""
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    b, t = labels.shape
    if b < 2 or not packable(model, t):
        return None
    lengths = mask.sum(1)  # (B,)
    columns = torch.arange(t, device=ids.device)
    own = columns < lengths[:, None]  # (B, T)
    if not torch.equal(mask.bool(), own):
        return None  # padding that is not on the right
    p = shared_columns(batch)  # 0 where the rows share too little: each row then runs whole
    n = lengths - p  # (B,) each row's own tokens
    tokens = int(n.sum())
    if int(n.min()) < 1 or not worth_packing(attention_share(model), b, t, p, tokens):
        return None
    own[:, :p] = False
    packed_ids = ids[own][None]  # (1, N): the rows end to end
    positions = columns.expand(b, -1)[own]  # (N,) each token's position in its own row
    rows = torch.arange(b, device=ids.device)[:, None].expand(-1, t)[own]  # (N,) the row it came from
    cache = None
    if p:
        cache = model(input_ids=ids[:1, :p], use_cache=True, logits_to_keep=1).past_key_values
        if not plain_cache(cache):
            return None
    window = answer_window(labels)
    take, kept = answer_rows(labels[:, window])  # (B, W) each row's own answer span in the window
    starts = torch.cumsum(n, 0) - n  # (B,) where each row begins in the packed row
    index = starts[:, None] + (window.start + take - p).clamp(min=0)  # (B, W)
    index = torch.minimum(index, (starts + n - 1)[:, None])  # a row with no answer still reads its own
    dtype = next(model.parameters()).dtype
    out = model(
        input_ids=packed_ids,
        attention_mask=block_mask(rows, positions, p, dtype, kernel_of(model) == EAGER),
        position_ids=positions[None],
        past_key_values=cache,
        use_cache=cache is not None,
        logits_to_keep=index.flatten(),  # the head on the answer spans only, as forward.span_logits does
    )
    return out.logits.view(b, take.shape[1], -1), kept
