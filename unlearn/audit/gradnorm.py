"""GradNorm membership attack: the norm of the gradient of an item's answer loss with respect to the
model's weights. A model sits near a minimum of the loss of what it was trained on, so members have
small gradients; the score is −‖∇θ L̄‖ (higher = looks like a member), in the same AUC table as the
other attacks (evaluation.md; the gradient norm as a membership signal goes back to Nasr et al. 2019,
"Comprehensive Privacy Analysis of Deep Learning", IEEE S&P; open-unlearning's `mia_gradnorm`, Dorna
et al. 2025, arXiv 2506.12618, is the unlearning benchmarks' implementation).

‖·‖ is one L2 norm over every weight of the model as it computes now (with a LoRA run: the base
weights, whose gradient equals that of the merged weight W + BA; the adapter matrices themselves are
not weights of the model and are left out). open-unlearning averages per-tensor norms instead; the
spec and the papers' "gradient norm" is the global one, used here.

Items go through in padded batches, each row's norm taken apart from one forward and backward
without forming any gradient (ghost_norm.py; on the bundled model, 2 cores: 20 items in 6.0 s in
batches of 8, 14.6 s with one backward per item). A model whose layers it does not describe takes one
forward and backward per item; there `torch.autograd.grad` returns the gradients without writing
`.grad`. Either way the `requires_grad` flags are put back as they were.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.ghost_norm import Layout, Unsupported, batch_norms, layout
from unlearn.data.batching import batches
from unlearn.data.examples import Example
from unlearn.model.cpu_streams import batch_size_for, stream_map
from unlearn.model.forward import answer_logits
from unlearn.train.losses import sequence_nll


def model_weights(model: PreTrainedModel) -> list[torch.nn.Parameter]:
    """The model's own weights (LoRA adapter matrices excluded), each tensor once (tied embeddings)."""
    seen: set[int] = set()
    out = []
    for name, p in model.named_parameters():
        if "lora_" in name or id(p) in seen:
            continue
        seen.add(id(p))
        out.append(p)
    return out


@contextmanager
def differentiable(params: Sequence[torch.nn.Parameter]) -> Iterator[None]:
    """Every parameter requires a gradient inside the block; the flags are restored on the way out."""
    flags = [p.requires_grad for p in params]
    try:
        for p in params:
            p.requires_grad_(True)
        yield
    finally:
        for p, f in zip(params, flags, strict=True):
            p.requires_grad_(f)


def gradient_norms(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    max_length: int = 256,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 8,
) -> np.ndarray:
    """‖∇θ L̄(x)‖₂ over every weight, per example (N,). L̄ is the mean NLL of the answer tokens."""
    params = model_weights(model)
    was_training = model.training
    model.eval()  # no dropout: the score of a fixed model
    try:
        try:
            lay = layout(model, params)
            return _batched(model, tokenizer, examples, lay, max_length, batch_size, progress)
        except Unsupported:
            return _one_by_one(model, tokenizer, examples, params, max_length, progress)
    finally:
        model.train(was_training)


def _batched(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    lay: Layout,
    max_length: int,
    batch_size: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    device = next(model.parameters()).device
    out: list[float] = []
    # two batches side by side on a CPU (cpu_streams.py), in batches that split evenly between them
    size = batch_size_for(len(examples), batch_size, device)
    encoded = [batch for _, batch in batches(examples, tokenizer, size, max_length, device)]
    for sq in stream_map(partial(batch_norms, model, lay=lay), encoded, device):
        out += sq.sqrt().tolist()
        if progress:
            progress(len(out), len(examples))
    return np.asarray(out, dtype=np.float64)


def _one_by_one(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    params: Sequence[torch.nn.Parameter],
    max_length: int,
    progress: Callable[[int, int], None] | None,
) -> np.ndarray:
    device = next(model.parameters()).device
    out = []
    with differentiable(params):
        for i, (_, batch) in enumerate(batches(examples, tokenizer, 1, max_length, device)):
            total, count = sequence_nll(*answer_logits(model, batch))  # (1,), (1,)
            loss = (total / count).sum()
            grads = torch.autograd.grad(loss, params, allow_unused=True)
            sq = sum(float(torch.linalg.vector_norm(g, dtype=_wide(g)) ** 2) for g in grads if g is not None)
            out.append(sq**0.5)
            if progress:
                progress(i + 1, len(examples))
    return np.asarray(out, dtype=np.float64)


def _wide(t: torch.Tensor) -> torch.dtype:
    """At least fp32 for a sum of squares (bf16 would round it), without narrowing fp64."""
    return torch.promote_types(t.dtype, torch.float32)


def gradnorm_scores(norms: np.ndarray) -> np.ndarray:
    """The membership score: −‖∇θ L̄‖ (higher = looks like a member)."""
    return -np.asarray(norms, dtype=np.float64)
