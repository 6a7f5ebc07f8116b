"""Score a model on examples: answer log-probabilities and greedy answers, batched.

P̃(a|q) = exp(−L̄), L̄ the mean NLL over answer tokens (evaluation.md). A set's probability is
the geometric mean over its items, exp(−mean L̄), so one near-zero item does not hide the rest.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import partial

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

from unlearn.data.batching import Batch, batches
from unlearn.data.examples import Example
from unlearn.data.prompts import chat_prompt
from unlearn.model import greedy
from unlearn.model.cpu_streams import batch_size_for, stream_map, streams
from unlearn.model.forward import accepts, accepts_logits_to_keep
from unlearn.model.prefix import grouped_prefix_logits
from unlearn.model.span_forward import scoring_logits
from unlearn.train.losses import sequence_nll


def scoring_order(examples: Sequence[Example]) -> list[int]:
    """The order examples are scored in: by length, so a batch pads little (on the quick demo's sets
    15-20% faster; the text's length stands in for the tokens', no second tokenization), with the
    answers to one question side by side, so that a batch's rows share their question (prefix.py).

    >>> scoring_order([Example("Q1?", "long answer"), Example("Q22?", "a"), Example("Q1?", "b")])
    [1, 2, 0]
    """
    answers: dict[str, list[int]] = {}
    for ex in examples:
        answers.setdefault(ex.question, []).append(len(ex.answer))
    size = {q: len(q) + sum(a) / len(a) for q, a in answers.items()}  # a question's mean row length
    return sorted(
        range(len(examples)), key=lambda i: (size[examples[i].question], examples[i].question, len(examples[i].answer))
    )


@torch.inference_mode()
def _batch_nll_sums(model: PreTrainedModel, batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """One batch's summed answer NLL and answer token counts, each (B,)."""
    # rows that open alike (a chat template's system prompt) run their shared opening once, and rows
    # asking the same question (truth-ratio variants) their question once too (prefix.py)
    total, count = sequence_nll(*(grouped_prefix_logits(model, batch) or scoring_logits(model, batch)))
    return total.double().cpu().numpy(), count.double().cpu().numpy()


def answer_nll_sums(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batch_size: int = 16,
    max_length: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Summed NLL over answer tokens, −log π(y|x), and the number of answer tokens, each (N,). On a
    CPU two batches run side by side (cpu_streams.py)."""
    device = next(model.parameters()).device
    order = scoring_order(examples)
    sums, counts = np.empty(len(examples), dtype=np.float64), np.empty(len(examples), dtype=np.float64)
    size = batch_size_for(len(examples), batch_size, device)
    encoded = [b for _, b in batches([examples[i] for i in order], tokenizer, size, max_length, device)]
    done = 0
    for total, count in stream_map(partial(_batch_nll_sums, model), encoded, device):
        rows = order[done : done + len(total)]
        sums[rows], counts[rows] = total, count
        done += len(rows)
    return sums, counts


def answer_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batch_size: int = 16,
    max_length: int = 256,
) -> np.ndarray:
    """Mean NLL over answer tokens for each example, shape (N,)."""
    sums, counts = answer_nll_sums(model, tokenizer, examples, batch_size, max_length)
    return sums / counts


def answer_prob(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example]) -> np.ndarray:
    """Length-normalised answer probability P̃ = exp(−L̄) per example."""
    return np.exp(-answer_nll(model, tokenizer, examples))


def set_prob(nll: np.ndarray) -> float:
    """Geometric mean of P̃ over a set = exp(−mean L̄)."""
    return float(math.exp(-float(np.mean(nll)))) if len(nll) else float("nan")


def reply_prompt(tokenizer: PreTrainedTokenizerBase, question: str, prefix: str = "") -> str:
    """The text a model continues to answer `question`: its chat prompt, then `prefix` as the
    already-written start of the assistant's reply (empty: the reply starts from nothing)."""
    return chat_prompt(tokenizer, question) + prefix


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    device: torch.device,
    max_prompt_tokens: int | None = None,
) -> dict[str, torch.Tensor]:
    """Prompt texts as one left-padded batch (B, T): every prompt ends in the last column, where a
    decoder generates from and where its next-token logits are read. With `max_prompt_tokens` each row
    keeps its last that many tokens (cutting the padded batch from the left cuts a long row exactly as
    it would be cut alone, and a short one loses padding only)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    # the chat template already writes any BOS token, so add none a second time; the padding side is a
    # call argument, not the tokenizer's attribute, which other threads of the app read
    batch = tokenizer(
        list(prompts), return_tensors="pt", padding=True, padding_side="left", add_special_tokens=not has_template
    )
    cut = slice(-max_prompt_tokens, None) if max_prompt_tokens else slice(None)
    return {k: v[:, cut].to(device) for k, v in batch.items()}


def can_pad(model: PreTrainedModel) -> bool:
    """Whether prompts of different lengths can share a batch: only a model that takes an attention
    mask can tell padding from text (a remote-code model may not take one: it is asked one at a time)."""
    return accepts(model, "attention_mask")


def next_token_logits(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The logits of the token after each prompt of a left-padded batch (`encode_prompts`), (B, V)."""
    inputs = {"input_ids": batch["input_ids"]}
    if can_pad(model):
        mask = batch["attention_mask"]
        inputs["attention_mask"] = mask
        if accepts(model, "position_ids"):
            # positions count from each row's first real token, as `generate` numbers them, so a padded
            # row computes what it would alone (a plain forward would number the padding too)
            inputs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0)
    if accepts(model, "use_cache"):
        inputs["use_cache"] = False  # nothing generates from this forward
    if accepts_logits_to_keep(model):
        inputs["logits_to_keep"] = 1  # the vocabulary head at the last position only
    return model(**inputs).logits[:, -1]


# Greedy answers generated at once. A decode step's fixed cost (every layer's launch, the cache update)
# is paid once per batch, so on the bundled model on 2 cores 20 answers of 48 tokens take 6.4 s as one
# batch and 10.7 s as 16 + 4, and 40 take 10.5 s as one and 16.2 s as 16 + 16 + 8; the audit's 100
# questions 26.6 s as one batch and 28.7 s as 64 + 36 (best of two each, the same answers). On a GPU
# the KV cache of 128 rows of ~150 tokens is about 2.5 GB for an 8B model (32 layers, 8 KV heads, bf16).
GENERATE_BATCH = 128
# A batch's prompts are left-padded to its longest, and the padding is computed like text (prefill
# and every decode step's attention). Prompts go in order of length, and a batch closes before a
# prompt longer than this many times its shortest: padding stays under a third of a batch's columns
# (the audit's few-shot probes run ~4x longer than its plain questions).
PAD_SPREAD = 1.5


def length_batches(lengths: Sequence[int], batch_size: int, spread: float = PAD_SPREAD) -> list[list[int]]:
    """Indices grouped into batches in order of length: at most `batch_size` each, and none holding a
    length over `spread` times its shortest.

    >>> length_batches([10, 40, 12, 11, 45], 3)
    [[0, 3, 2], [1, 4]]
    """
    out: list[list[int]] = []
    for i in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if not out or len(out[-1]) >= batch_size or lengths[i] > spread * lengths[out[-1][0]]:
            out.append([])
        out[-1].append(i)
    return out


@torch.inference_mode()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    max_new_tokens: int = 48,
    batch_size: int = GENERATE_BATCH,
    streamer: BaseStreamer | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    *,
    prefixes: Sequence[str] | None = None,
    max_prompt_tokens: int | None = None,
) -> list[str]:
    """Greedy answers to chat questions, batched with left padding (decoders need the prompt
    to end at the same position in every row): up to `batch_size` prompts in order of length decoded
    as one, each batch of similar length (`length_batches`) prefilled apart (greedy.py); with a
    `streamer` (`unlearn.inspection.streaming.TextStreamer`), which sees a batch's answers grow token by
    token, one `generate` per batch of similar length. The answers come back in the questions' order;
    `on_batch(done, total)` hears after each decoded group.

    `prefixes` (one per question) pre-fill the start of each reply; an answer is what follows its
    prefix, as `unlearn.inspection.compare.generate` returns it. `max_prompt_tokens` keeps the end of
    longer prompts (by default nothing is cut)."""
    device = next(model.parameters()).device
    given = [""] * len(questions) if prefixes is None else prefixes
    prompts = [reply_prompt(tokenizer, q, p) for q, p in zip(questions, given, strict=True)]
    lengths = [len(ids) for ids in tokenizer(prompts, add_special_tokens=False)["input_ids"]] if prompts else []
    if max_prompt_tokens:
        lengths = [min(n, max_prompt_tokens) for n in lengths]
    answers = [""] * len(prompts)
    done = 0
    # without a streamer (which shows one batch's rows growing together) batches of similar length are
    # prefilled apart and decoded as one (greedy.py); else each is one `generate`
    joined = streamer is None and greedy.applies(model)
    ends = greedy.end_tokens(model)

    def answer(parts: list[list[int]]) -> list[list[int]]:
        """New tokens of the rows of `parts` (batches of prompt indices), in order: decoded as one, else
        one `generate` per batch."""
        encoded = [encode_prompts(tokenizer, [prompts[i] for i in rows], device, max_prompt_tokens) for rows in parts]
        tokens = greedy.decode(model, encoded, max_new_tokens, ends) if joined else None
        if tokens is None:
            tokens = [row for batch in encoded for row in _generate(model, tokenizer, batch, max_new_tokens, streamer)]
        return tokens

    # a joined decoding's rows go to the CPU streams in alternate rows of every batch, so each stream's
    # batches keep their lengths (cpu_streams.py: the audit's 100 greedy answers 14% less time); a
    # streamer shows one batch growing, so its batches are not split
    n = streams(device) if joined else 1
    for group in length_batches(lengths, batch_size, math.inf if joined else PAD_SPREAD):
        parts = [[group[j] for j in sub] for sub in length_batches([lengths[i] for i in group], batch_size)]
        shards = deal(parts, n)
        rows = [i for shard in shards for part in shard for i in part]
        tokens = [row for got in stream_map(answer, shards, device) for row in got]
        for i, text in zip(rows, tokenizer.batch_decode(tokens, skip_special_tokens=True), strict=True):
            answers[i] = text.strip()
        done += len(rows)
        if on_batch:
            on_batch(done, len(prompts))
    return answers


def deal(parts: list[list[int]], n: int) -> list[list[list[int]]]:
    """Batches of row indices dealt to `n` streams in alternate rows, each stream's share of a batch kept
    as a batch. The alternation runs on from one batch to the next, so odd rows even out; a stream left
    without rows is dropped.

    >>> deal([[0, 1, 2], [3, 4, 5], [6, 7, 8]], 2)
    [[[0, 2], [4], [6, 8]], [[1], [3, 5], [7]]]
    >>> deal([[0], [1], [2], [3]], 2), deal([[0]], 2)
    ([[[0], [2]], [[1], [3]]], [[[0]]])
    """
    shards: list[list[list[int]]] = [[] for _ in range(n)]
    taken = 0  # rows dealt so far
    for part in parts:
        for s in range(n):
            if rows := part[(s - taken) % n :: n]:
                shards[s].append(rows)
        taken += len(part)
    return [shard for shard in shards if shard]


def _generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    batch: dict[str, torch.Tensor],
    max_new_tokens: int,
    streamer: BaseStreamer | None,
) -> list[list[int]]:
    """One left-padded batch's greedy new tokens by `model.generate`, (B, new) as lists."""
    out = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
        temperature=None,
        top_p=None,
        top_k=None,
        streamer=streamer,
    )
    return out[:, batch["input_ids"].shape[1] :].tolist()


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def mentions(text: str, keywords: Sequence[str]) -> bool:
    """True when any keyword appears in `text` as whole words (case, accents, punctuation ignored).

    >>> mentions("It was written by J. K. Rowling.", ["Rowling"])
    True
    >>> mentions("Paris is lovely", ["Par"])
    False
    """
    t = f" {_norm(text)} "
    return any(f" {_norm(k)} " in t for k in keywords if _norm(k))
