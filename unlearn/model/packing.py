"""Run a batch's rows one after another in a single sequence, without their padding.

A batch is right-padded to its longest row, and every linear layer works on every column, padding
too. On the quick demo's training batches (8 rows of 54-65 tokens after the chat template's 24-token
opening) 19% of the rows' own columns are padding; on its sorted scoring batches 18%, on the live
curve's 16-item sample 30%. Here the rows' shared opening (once) and then each row's own tokens are
laid end to end in one row of P + N tokens, each keeping its position ids, and a block-diagonal causal
mask lets a token see the opening and the earlier tokens of its own row only: the logits of the padded
forward (float rounding aside: `tests/test_packing.py`), from P + N instead of P + B x (T - P) positions.

The opening sits at the head of the packed row rather than running first as a batch of one whose KV
cache the rows then read (prefix.py's way): with gradients, that separate 24-token forward and its
backward cost about 0.3 s per demo training batch on matrices too thin to run fast, against well under
0.1 s as 24 more rows of the packed forward. Interleaved on the demo's batches, training took 13% less
time this way and scoring the same (docs/measurements.md).

Attention then spans the whole packed row ((P + N)^2 scores instead of B x (T - P) x T), so packing
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
from unlearn.model.prefix import rewritten, shared_columns

# model types whose packed forward tests/test_packing.py compares with the padded one: their position
# ids drive the rotary or learned positions, and their layers take a prepared 4-D mask as it is
PACKED_FAMILIES = frozenset(
    {"llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "olmo2", "gpt2", "gpt_neox", "opt", "smollm3"}
)
SAVING = 0.95  # packed must cost under this share of padded (mask and gathers are not free)
MAX_SCORES = 1 << 24  # (P + N)^2 mask entries at most: 64 MiB as fp32 scores per head on eager
# what the packed forward passes: no KV cache since the opening runs inside the row (prefix.NEEDS has one)
NEEDS = ("use_cache", "position_ids", "logits_to_keep", "attention_mask")


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
    """Whether the opening's `opening` and the rows' `tokens` positions packed in one row, each
    attending over the whole row, cost under SAVING of the padded forward: the opening once and `rows`
    x (`columns` - `opening`) positions attending over `columns` keys each, with `share` as
    `attention_share` gives it.

    >>> worth_packing(3e-4, rows=8, columns=65, opening=24, tokens=272)  # the demo's widest batch
    True
    >>> worth_packing(3e-4, rows=64, columns=65, opening=24, tokens=2200)  # attention would dominate
    False
    """
    padded = opening * (1 + share * opening) + rows * (columns - opening) * (1 + share * columns)
    length = opening + tokens
    packed = length * (1 + share * length)
    return packed < SAVING * padded and length * length <= MAX_SCORES


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


def block_mask(rows: torch.Tensor, positions: torch.Tensor, dtype: torch.dtype, eager: bool) -> torch.Tensor:
    """(1, 1, L, L) mask of a packed row of L tokens, `rows` (L,) the row each token came from (-1 for
    the shared opening, which every row sees) and `positions` (L,) its position in that row: a token sees
    the opening and its own row's tokens at or before its position. SDPA takes it as booleans (True:
    attend), the eager kernel adds it to the scores (0 or the dtype's lowest value)."""
    sees = (rows[:, None] == rows[None, :]) | (rows[None, :] == -1)  # (L, L) own row or the opening
    allowed = (sees & (positions[None, :] <= positions[:, None]))[None, None]
    if not eager:
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=rows.device).masked_fill(~allowed, torch.finfo(dtype).min)


def packed_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each row's answer-span logits (B, W, V) and labels (B, W), as `forward.answer_logits` gives
    them, from one packed row (the opening once where the rows share one); None where packing
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
    opening = columns[:p]  # (P,) run once, at the head of the packed row
    packed_ids = torch.cat([ids[0, :p], ids[own]])[None]  # (1, P + N): the opening, then the rows end to end
    positions = torch.cat([opening, columns.expand(b, -1)[own]])  # (P + N,) each token's position in its row
    rows = torch.cat([opening.new_full((p,), -1), torch.arange(b, device=ids.device)[:, None].expand(-1, t)[own]])
    window = answer_window(labels)
    take, kept = answer_rows(labels[:, window])  # (B, W) each row's own answer span in the window
    starts = p + torch.cumsum(n, 0) - n  # (B,) where each row begins in the packed row
    index = starts[:, None] + (window.start + take - p).clamp(min=0)  # (B, W)
    index = torch.minimum(index, (starts + n - 1)[:, None])  # a row with no answer still reads its own
    dtype = next(model.parameters()).dtype
    out = model(
        input_ids=packed_ids,
        attention_mask=block_mask(rows, positions, dtype, kernel_of(model) == EAGER),
        position_ids=positions[None],
        use_cache=False,
        logits_to_keep=index.flatten(),  # the head on the answer spans only, as forward.span_logits does
    )
    return out.logits.view(b, take.shape[1], -1), kept
