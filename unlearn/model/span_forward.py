"""The answer-span forward that scoring, token statistics, REMIND and every method's training step call.

Three ways give the same logits (float rounding aside) and are tried cheapest first: the rows packed
end to end without their padding (packing.py), the rows' shared opening run once with the rows padded
after it (prefix.py), and the plain padded forward (forward.py). Each of the first two steps aside,
returning None, where it cannot apply or would not pay.
"""

from __future__ import annotations

import torch
from transformers import PreTrainedModel

from unlearn.model import packing, prefix
from unlearn.model.forward import Batch, answer_logits


def scoring_logits(model: PreTrainedModel, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, W, V) of each row's own answer span and its labels (B, W), as `forward.answer_logits`
    gives them. The modules are read at call time, so a test can turn one way off."""
    packed = packing.packed_logits(model, batch)
    return packed or prefix.shared_prefix_logits(model, batch) or answer_logits(model, batch)
