"""Per-neuron statistics of the MLPs, for the training-free methods (U-CAN, ModHiFi-U).

A "neuron" j of layer l is one unit of the MLP's hidden layer: its activation a_j is the j-th
input of `down_proj` (for SwiGLU: silu(gate_j)·up_j), and its output weights are the column
W_down[:, j]. Statistics are taken at the positions that predict answer tokens, where a fact is
produced, over batches of a set.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from unlearn.data.prompts import IGNORE
from unlearn.errors import UserError
from unlearn.model.forward import accepts_logits_to_keep
from unlearn.model.hooks import forward_hooks
from unlearn.train.covariance import masked_rows, second_moment

Batch = dict[str, torch.Tensor]
DOWN = re.compile(r"(.*\.layers\.(\d+)\.mlp\.down_proj)$")


def down_projections(model: PreTrainedModel) -> dict[int, torch.nn.Module]:
    """Layer index -> its MLP `down_proj` module (the peft wrapper if a LoRA run left one)."""
    found = {int(m.group(2)): mod for name, mod in model.named_modules() if (m := DOWN.match(name))}
    if not found:
        raise UserError("no `layers.N.mlp.down_proj` modules in this model: the neuron methods need a Llama-style MLP")
    return dict(sorted(found.items()))


def down_weight(module: torch.nn.Module) -> torch.nn.Parameter:
    """The (d_model, d_ff) weight of a down_proj, under a peft wrapper or not."""
    base = getattr(module, "base_layer", module)
    return base.weight


@dataclass
class NeuronStats:
    """Per layer (L, d_ff): mean |a_j|, mean a_j², and the mean squared norm of the MLP output."""

    abs_mean: torch.Tensor
    sq_mean: torch.Tensor
    out_sq: torch.Tensor  # (L,) E‖y‖², y = down_proj output
    positions: int


@torch.no_grad()
def neuron_stats(model: PreTrainedModel, batches: list[Batch], progress: Callable[[float], None] | None = None):
    """Statistics over the answer-predicting positions of `batches` (one forward each)."""
    downs = down_projections(model)
    n_layers, d_ff = len(downs), down_weight(next(iter(downs.values()))).shape[1]
    dev = next(model.parameters()).device
    abs_sum = torch.zeros(n_layers, d_ff, dtype=torch.float64, device=dev)
    sq_sum = torch.zeros_like(abs_sum)
    out_sq = torch.zeros(n_layers, dtype=torch.float64, device=dev)
    count = 0
    mask_box: dict[str, torch.Tensor] = {}

    def hook(i: int):
        def fn(module, inputs, output):
            m = mask_box["mask"]  # (B, T) bool
            a = masked_rows(inputs[0], m, torch.float64)  # (N, d_ff)
            abs_sum[i] += a.abs().sum(0)
            sq_sum[i] += second_moment(a, diagonal=True)  # Σ a_j²: the diagonal of Σ a aᵀ only
            out_sq[i] += output[m].double().pow(2).sum()

        return fn

    with forward_hooks((mod, hook(i)) for i, mod in enumerate(downs.values())):
        for k, b in enumerate(batches):
            labels = b["labels"]
            predicts = torch.zeros_like(labels, dtype=torch.bool)
            predicts[:, :-1] = labels[:, 1:] != IGNORE  # position t predicts answer token t+1
            mask_box["mask"] = predicts
            # only the MLP inputs are read: skip the vocabulary head where the model allows it
            head = {"logits_to_keep": 1} if accepts_logits_to_keep(model) else {}
            model(input_ids=b["input_ids"], attention_mask=b["attention_mask"], **head)
            count += int(predicts.sum())
            if progress:
                progress((k + 1) / len(batches))
    n = max(count, 1)
    return NeuronStats((abs_sum / n).float(), (sq_sum / n).float(), (out_sq / n).float(), count)


def contrast(model: PreTrainedModel, forget: list[Batch], retain: list[Batch]):
    """Statistics on the forget and on the retain batches, and the down_proj modules in layer order:
    what the neuron edits (U-CAN, ModHiFi-U) start from."""
    return neuron_stats(model, forget), neuron_stats(model, retain), list(down_projections(model).values())
