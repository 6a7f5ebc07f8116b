"""Score a model on examples: answer log-probabilities and greedy answers, batched.

P̃(a|q) = exp(−L̄), L̄ the mean NLL over answer tokens (evaluation.md). A set's probability is
the geometric mean over its items, exp(−mean L̄), so one near-zero item does not hide the rest.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

from unlearn.data.batching import batches
from unlearn.data.examples import Example
from unlearn.data.prompts import chat_prompt
from unlearn.model.forward import answer_logits
from unlearn.train.losses import sequence_nll


@torch.inference_mode()
def answer_nll(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    batch_size: int = 16,
    max_length: int = 256,
) -> np.ndarray:
    """Mean NLL over answer tokens for each example, shape (N,)."""
    device = next(model.parameters()).device
    out: list[float] = []
    for _, batch in batches(examples, tokenizer, batch_size, max_length, device):
        total, count = sequence_nll(*answer_logits(model, batch))  # (B,), (B,)
        out.extend((total / count).tolist())
    return np.asarray(out, dtype=np.float64)


def answer_prob(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, examples: Sequence[Example]) -> np.ndarray:
    """Length-normalised answer probability P̃ = exp(−L̄) per example."""
    return np.exp(-answer_nll(model, tokenizer, examples))


def set_prob(nll: np.ndarray) -> float:
    """Geometric mean of P̃ over a set = exp(−mean L̄)."""
    return float(math.exp(-float(np.mean(nll)))) if len(nll) else float("nan")


@torch.inference_mode()
def generate_answers(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    max_new_tokens: int = 48,
    batch_size: int = 16,
    streamer: BaseStreamer | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[str]:
    """Greedy answers to chat questions, batched with left padding (decoders need the prompt
    to end at the same position in every row). A `streamer` (`unlearn.inspection.streaming.TextStreamer`)
    sees each batch's answers grow token by token; `on_batch(done, total)` hears after each batch."""
    device = next(model.parameters()).device
    has_template = bool(getattr(tokenizer, "chat_template", None))
    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    answers: list[str] = []
    try:
        for i in range(0, len(questions), batch_size):
            prompts = [chat_prompt(tokenizer, q) for q in questions[i : i + batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=not has_template)
            batch = {k: v.to(device) for k, v in batch.items()}
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
            new = out[:, batch["input_ids"].shape[1] :]  # (B, new)
            answers.extend(t.strip() for t in tokenizer.batch_decode(new, skip_special_tokens=True))
            if on_batch:
                on_batch(len(answers), len(questions))
    finally:
        tokenizer.padding_side = old_side
    return answers


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
