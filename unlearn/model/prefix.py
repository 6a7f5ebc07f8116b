"""Score a batch whose rows share their opening tokens by running those tokens once.

Chat-templated items all open with the same system prompt and turn header: on SmolLM2 that is 25 of
an item's ~55 tokens, so a scoring forward (no gradients) spends close to half its work on tokens
that are identical in every row. Here the shared opening runs once, as a batch of one, and its KV
cache is repeated for the rows, which then run only their own tokens. The logits are those of the
full forward (the same positions, the same mask; float rounding aside: `tests/test_prefix.py`).

Scoring (`scoring.answer_nll`: the before/after figures, the live curves) and training
(`Context.answer_logits`: every method's forwards) both use it, through `span_forward.scoring_logits`,
where a batch with enough padding is packed instead (packing.py, which runs the opening once too).
With gradients the opening's KV is repeated for the rows by autograd, so its backward sums the rows'
gradients into the one opening: the gradient of the full forward, and the opening's activations are
kept once instead of once per row.

Rows that also share their question (TOFU's truth ratio scores one question with its paraphrased and
perturbed answers, Real Authors' and World Facts' items one question with four or five answers) go
one level further (`grouped_prefix_logits`): the batch's opening once, each distinct question once,
then each row's answer only. On the audit's variant scoring that is about a third of the tokens.

A model whose forward takes no KV cache, position ids or `logits_to_keep` (remote code, older
classes), a model inside low-memory training or compiled layers (checkpointing drops the cache, a
compiled layer would recompile for it), or a batch whose rows share fewer than `MIN_SHARED` tokens,
gets the plain forward.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from unlearn.data.prompts import IGNORE
from unlearn.model.forward import Batch, accepts, answer_window, span_logits

MIN_SHARED = 8  # below this the second call costs more than the tokens it saves
NEEDS = ("past_key_values", "use_cache", "position_ids", "logits_to_keep", "attention_mask")


def shared_length(batch: Batch) -> int:
    """How many opening columns every row has identical and unpadded, (B, T) -> int."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    same = (ids == ids[:1]).all(0) & (mask == 1).all(0)  # (T,)
    return int(same.int().cumprod(0).sum())


def shared_columns(batch: Batch) -> int:
    """How many opening columns `shared_prefix_logits` runs once for this batch (0: none, the plain
    forward): the rows' shared opening, stopping before the answer window and the last column."""
    labels = batch["labels"]
    b, t = labels.shape
    p = min(shared_length(batch), answer_window(labels).start, t - 1)
    return p if b >= 2 and p >= MIN_SHARED else 0


def shared_prefix_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each row's answer-span logits (B, W, V) and labels (B, W) as `forward.answer_logits` gives them,
    computed with the shared opening run once; None where that cannot apply (see the module)."""
    labels = batch["labels"]
    window = answer_window(labels)
    b, t = labels.shape
    p = shared_columns(batch)  # the rows' own part must hold every logit the window needs
    if not p or not all(accepts(model, a) for a in NEEDS) or rewritten(model):
        return None
    # the opening's logits are never read: the head on its last position only
    cache = model(input_ids=batch["input_ids"][:1, :p], use_cache=True, logits_to_keep=1).past_key_values
    if not plain_cache(cache):
        return None
    cache.batch_repeat_interleave(b)  # (1, H, P, d) -> (B, H, P, d), every layer; autograd sums it back
    positions = torch.arange(p, t, device=labels.device).expand(b, -1)  # (B, T-P): as in the full forward
    keep = torch.arange(window.start - p, window.stop - p, device=labels.device)
    # the head on each row's own answer span only (forward.py)
    return span_logits(
        model,
        labels[:, window],
        lambda: model(
            input_ids=batch["input_ids"][:, p:],
            attention_mask=batch["attention_mask"],  # (B, T): the opening's columns and the rows' own
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=keep,
        ),
    )


def grouped_prefix_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Logits (B, W', V) and labels (B, W') for a right-padded batch in which some rows share all
    their tokens before the answer: the batch's shared opening runs once, each distinct question
    once (one row per group, padded), and each row then runs only its own tokens from the one before
    its answer, on its group's KV cache. W' is the longest such tail, so the window differs from
    `answer_logits`'s, but logit j of a row still predicts its label j + 1 (`losses.shift`): the same
    per-row sums for `sequence_nll`. None where no two rows share a question, or the sharing cannot
    apply (see the module)."""
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    b, t = labels.shape
    answered = labels != IGNORE
    if b < 2 or not answered.any(1).all() or not all(accepts(model, a) for a in NEEDS) or rewritten(model):
        return None
    starts = answered.int().argmax(1) - 1  # (B,) each row's column before its first answer token
    lengths = mask.sum(1)
    columns = torch.arange(t, device=ids.device)
    if (starts < 1).any() or not torch.equal(mask.bool(), columns < lengths[:, None]):
        return None  # an answer from the first token, or padding not on the right
    groups: dict[tuple[int, ...], int] = {}
    of_row = [groups.setdefault(tuple(ids[r, : starts[r]].tolist()), len(groups)) for r in range(b)]
    if len(groups) == b:
        return None
    first = [of_row.index(g) for g in range(len(groups))]  # a row standing for each group
    p0 = min(shared_length(batch), int(starts.min()))
    p0 = p0 if p0 >= MIN_SHARED else 0
    cache = None
    if p0:
        cache = model(input_ids=ids[:1, :p0], use_cache=True, logits_to_keep=1).past_key_values
        if not plain_cache(cache):
            return None
        cache.batch_repeat_interleave(len(groups))
    context = starts[first] - p0  # (G,) each question's own columns after the opening
    lq = int(context.max())
    context_mask = (columns[:lq] < context[:, None]).long()  # (G, Lq) right-padded
    if lq:
        rows = torch.tensor(first, device=ids.device)
        out = model(
            input_ids=ids[rows, p0 : p0 + lq] * context_mask,
            attention_mask=torch.cat([mask.new_ones(len(groups), p0), context_mask], 1),
            position_ids=torch.arange(p0, p0 + lq, device=ids.device).expand(len(groups), -1),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,  # nothing here is scored: the questions' last tokens run again below
        )
        cache = out.past_key_values
    if not plain_cache(cache):
        return None
    group = torch.tensor(of_row, device=ids.device)
    # (G, ...) -> (B, ...): each row on its question's cache; CPU indices index a cache on any device
    cache.batch_select_indices(group.cpu())
    tail = int((lengths - starts).max())
    take = (starts[:, None] + columns[:tail]).clamp(max=t - 1)  # (B, W') each row's columns from its start
    own = (columns[:tail] < (lengths - starts)[:, None]).long()
    out = model(
        input_ids=ids.gather(1, take) * own,
        attention_mask=torch.cat([mask.new_ones(b, p0), context_mask[group], own], 1),
        position_ids=starts[:, None] + columns[:tail],
        past_key_values=cache,
        use_cache=True,
    )
    return out.logits, labels.gather(1, take).masked_fill(own == 0, IGNORE)


def plain_cache(cache: object, sliding: bool = True) -> bool:
    """Whether a cache holds plain per-layer keys and values that rows can be repeated and picked from:
    a DynamicCache of attention layers (sliding-window ones too where `sliding`: these sequences are far
    shorter than any window). A hybrid model's linear-attention or state-space layers carry a recurrent
    state that padding would enter, and have no keys to repeat: such a model gets the plain forward."""
    from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

    kinds = (DynamicLayer, DynamicSlidingWindowLayer) if sliding else (DynamicLayer,)
    return type(cache) is DynamicCache and all(type(layer) in kinds for layer in cache.layers)


def rewritten(model: PreTrainedModel) -> bool:
    """Whether layers checkpoint (recompute.py: HF then drops the cache) or run compiled (compiled.py)."""
    return any(
        getattr(m, "gradient_checkpointing", False) and m.training or getattr(m, "_compiled_call_impl", None)
        for m in model.modules()
    )
