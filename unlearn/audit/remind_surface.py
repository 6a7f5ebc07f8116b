"""REMIND's 2-D loss surface: the mean answer loss of an example's neighbours over two axes of the
neighbourhood, the replacement probability p and the neighbour rank m (a token is replaced by one of
its m nearest tokens). A flat surface after unlearning, where a trained item's was a basin, is what
"looks forgotten" means; a basin that survives is residual memorisation.

The grid's neighbours all keep the example's length, so one example's whole surface is a single
stacked batch (split only by `batch_size`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.remind import answer_losses, nearest_tokens, perturb, perturbable
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.errors import UserError


@dataclass
class SurfaceConfig:
    strengths: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5)  # p axis (p = 0 is the example itself)
    ranks: tuple[int, ...] = (1, 5, 10, 20, 50)  # m axis
    k: int = 4  # neighbours per grid cell, averaged
    seed: int = 0
    batch_size: int = 32

    def check(self) -> None:
        if not self.strengths or not self.ranks or self.k < 1:
            raise UserError("the surface needs at least one strength, one rank and k ≥ 1")
        if any(not 0 < p <= 1 for p in self.strengths) or any(m < 1 for m in self.ranks):
            raise UserError("strengths must be in (0, 1] and ranks at least 1")


@dataclass
class Surface:
    """One example's surface: `loss[i, j]` is the mean neighbour loss at rank m_i, strength p_j."""

    own: float  # the example's own loss (p = 0, the same for every m)
    strengths: np.ndarray  # (P,)
    ranks: np.ndarray  # (M,)
    loss: np.ndarray  # (M, P)
    spread: np.ndarray  # (M, P) std over the k neighbours of a cell


@torch.inference_mode()
def surface(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    example: Example,
    cfg: SurfaceConfig | None = None,
    max_length: int = 256,
) -> Surface:
    cfg = cfg or SurfaceConfig()
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    enc = encode(tokenizer, example, max_length)
    ids = np.asarray(enc.input_ids)
    pos = perturbable(tokenizer, example, enc)
    near = nearest_tokens(model.get_input_embeddings().weight, [ids[i] for i in pos], max(cfg.ranks))
    rows = [ids]
    for m in cfg.ranks:
        nearest_m = {t: choices[:m] for t, choices in near.items()}  # replace only among the m nearest
        for p in cfg.strengths:
            rows += [perturb(ids, pos, p, nearest_m, rng)[0] for _ in range(cfg.k)]
    device = next(model.parameters()).device
    stack = torch.tensor(np.stack(rows), device=device)  # (1 + M·P·k, T)
    labels = torch.tensor([enc.labels], device=device).expand(len(rows), -1)
    values = answer_losses(model, stack, labels, cfg.batch_size)
    grid = values[1:].reshape(len(cfg.ranks), len(cfg.strengths), cfg.k)  # (M, P, k)
    return Surface(float(values[0]), np.asarray(cfg.strengths), np.asarray(cfg.ranks), grid.mean(-1), grid.std(-1))


def surfaces(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    cfg: SurfaceConfig | None = None,
) -> list[Surface]:
    return [surface(model, tokenizer, ex, cfg) for ex in examples]
