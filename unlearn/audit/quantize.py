"""Quantization attack (Zhang et al. 2025, "Catastrophic Failure of LLM Unlearning via Quantization",
arXiv 2410.16454): an unlearning run changes the weights by amounts far below a low-bit quantization
step, so quantizing the unlearned model can put its weights back into the buckets of the original
and bring the "forgotten" knowledge back. The paper finds 4-bit quantization restores much of it
(e.g. 21% → 83% of the forget-set knowledge kept on MUSE) while 8-bit restores little.

Quantization here is round-to-nearest (RTN), the paper's baseline scheme, written as a short function
(rather than a new pinned dependency such as torchao or optimum-quanto for one rounding rule, and so
that it runs wherever the model does, the CPU included): per group of `group`
consecutive input weights of a row, Q(w) = Δ·round(w/Δ) with Δ = max|w| / 2^(N−1) (the paper's
eq. for RTN, after AWQ), clamped to the N-bit range [−2^(N−1), 2^(N−1) − 1]. As written, the largest
positive weight of a group lands one code above the range and is clamped one step down; quantization
libraries often use Δ = max|w| / (2^(N−1) − 1) instead, which does not clip (a difference of one step
on one weight per group; the paper's form is kept). Group size 128 is the usual default of GPTQ and
AWQ (the text we could read does not state the paper's). Weight-only
simulated quantization (quantize, then dequantize, as quantization studies evaluate it): every linear
layer of the decoder holds Q(W) in its own dtype; the embeddings
and the output head stay as they are, as weight-only quantizers leave them.

With a LoRA run the after model's weight is W + BA: that merged weight is what gets quantized (the
adapters are switched off meanwhile). Everything is put back exactly afterwards: the original
tensors are swapped back in, not recomputed (`quantized` is a context manager, tested bit for bit).

>>> w = torch.tensor([[0.5, -1.0, 0.25, 0.1]])
>>> rtn(w, bits=4, group=2).tolist()  # groups [0.5, -1.0] (Δ = 1/8) and [0.25, 0.1] (Δ = 1/32)
[[0.5, -1.0, 0.21875, 0.09375]]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from peft.tuners.lora import LoraLayer
from transformers import PreTrainedModel

from unlearn.errors import UserError

GROUP = 128


def rtn(w: torch.Tensor, bits: int, group: int = GROUP) -> torch.Tensor:
    """Round-to-nearest, symmetric, per group of `group` input columns; dequantized, in w's dtype."""
    if not 2 <= bits <= 16:
        raise UserError(f"bits must be between 2 and 16, got {bits}")
    top = 2 ** (bits - 1)
    out = []
    for chunk in torch.split(w.detach().float(), group, dim=-1):  # (out, ≤ group) each
        delta = chunk.abs().amax(-1, keepdim=True) / top  # (out, 1)
        delta = torch.where(delta > 0, delta, torch.ones_like(delta))  # an all-zero group stays zero
        out.append(torch.clamp(torch.round(chunk / delta), -top, top - 1) * delta)
    return torch.cat(out, -1).to(w.dtype)


def _lora_delta(layer: LoraLayer) -> torch.Tensor | None:
    """The merged update BA·scale of the layer's active adapters (None when they are off)."""
    if layer.disable_adapters:
        return None
    deltas = [layer.get_delta_weight(a) for a in layer.active_adapters if a in layer.lora_A]
    return sum(deltas) if deltas else None


@contextmanager
def quantized(model: PreTrainedModel, bits: int, group: int = GROUP) -> Iterator[int]:
    """Inside the block every decoder linear layer computes with RTN-quantized weights (the merged
    weight where a LoRA adapter is on); yields the number of matrices quantized. On the way out the
    original tensors, adapter switches and `requires_grad` flags are put back exactly."""
    head = model.get_output_embeddings()
    skip = {id(head)} if head is not None else set()
    planned: dict[int, tuple[torch.nn.Parameter, torch.Tensor]] = {}  # id -> (parameter, its quantized value)
    done: list[tuple[torch.nn.Parameter, torch.Tensor]] = []  # (parameter, its original tensor)
    switched: list[LoraLayer] = []
    flags = {id(p): (p, p.requires_grad) for p in model.parameters()}
    try:
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, LoraLayer):
                    base = module.get_base_layer()
                    skip.update(id(m) for m in module.modules())  # lora_A / lora_B / base: handled here
                    if id(base) == id(head) or not isinstance(base, torch.nn.Linear):
                        continue
                    delta = _lora_delta(module)
                    merged = base.weight if delta is None else base.weight + delta.to(base.weight.dtype)
                    planned[id(base.weight)] = (base.weight, rtn(merged, bits, group))
                    if delta is not None:
                        module.enable_adapters(False)
                        switched.append(module)
                elif isinstance(module, torch.nn.Linear) and id(module) not in skip:
                    planned.setdefault(id(module.weight), (module.weight, rtn(module.weight, bits, group)))
            for p, q in planned.values():  # a weight two layers share is quantized and swapped once
                done.append((p, p.data))  # swap storage: the original tensor is kept untouched aside
                p.data = q
        yield len(done)
    finally:
        for p, original in reversed(done):
            p.data = original
        for module in switched:
            module.enable_adapters(True)
        for p, flag in flags.values():
            p.requires_grad_(flag)
