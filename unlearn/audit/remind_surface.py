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

from unlearn.audit.remind import Landscape, answer_losses, nearest_tokens, perturb, perturbable
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


Cells = dict[tuple[int, float], np.ndarray]  # (rank m, strength p) -> neighbour losses already measured


def landscape_cells(land: Landscape, i: int, m: int) -> Cells:
    """Item i's REMIND neighbour losses as surface cells: REMIND draws its K neighbours at each strength
    of its sweep from the m nearest tokens, the distribution of the surface's cell (m, p)."""
    return {(m, float(p)): land.neighbours[i, j] for j, p in enumerate(land.strengths)}


@torch.inference_mode()
def surface(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    example: Example,
    cfg: SurfaceConfig | None = None,
    max_length: int = 256,
    known: Cells | None = None,
    own: float | None = None,
) -> Surface:
    """The surface of one example. A cell of `known` holding at least k losses (REMIND's neighbours at the
    same rank and strength: `landscape_cells`) takes its first k instead of scoring k new neighbours, and
    `own` (the example's loss, REMIND's row 0) saves scoring the example itself. Each cell's neighbours are
    still drawn, so the other cells get the same neighbours either way."""
    cfg = cfg or SurfaceConfig()
    cfg.check()
    known = {cell: v for cell, v in (known or {}).items() if len(v) >= cfg.k}
    rng = np.random.default_rng(cfg.seed)
    enc = encode(tokenizer, example, max_length)
    ids = np.asarray(enc.input_ids)
    pos = perturbable(tokenizer, example, enc)
    near = nearest_tokens(model.get_input_embeddings().weight, [ids[i] for i in pos], max(cfg.ranks))
    rows = [] if own is not None else [ids]
    for m in cfg.ranks:
        nearest_m = {t: choices[:m] for t, choices in near.items()}  # replace only among the m nearest
        for p in cfg.strengths:
            drawn = [perturb(ids, pos, p, nearest_m, rng)[0] for _ in range(cfg.k)]
            if (m, float(p)) not in known:
                rows += drawn
    device = next(model.parameters()).device
    values = np.zeros(0)
    if rows:
        stack = torch.tensor(np.stack(rows), device=device)  # (rows, T)
        labels = torch.tensor([enc.labels], device=device).expand(len(rows), -1)
        values = answer_losses(model, stack, labels, cfg.batch_size)
    if own is None:
        own, values = float(values[0]), values[1:]
    scored = iter(values.reshape(-1, cfg.k))
    cells = [
        known[(m, float(p))][: cfg.k] if (m, float(p)) in known else next(scored)
        for m in cfg.ranks
        for p in cfg.strengths
    ]
    grid = np.stack(cells).reshape(len(cfg.ranks), len(cfg.strengths), cfg.k)  # (M, P, k)
    return Surface(float(own), np.asarray(cfg.strengths), np.asarray(cfg.ranks), grid.mean(-1), grid.std(-1))


def surfaces(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    cfg: SurfaceConfig | None = None,
    land: Landscape | None = None,
    m: int | None = None,
) -> list[Surface]:
    """The surfaces of `examples`; with `land`, REMIND's landscape of the same examples (in order) under
    the same model drawn from the `m` nearest tokens, its cells and own losses are reused (see `surface`)."""
    if land is None or m is None:
        return [surface(model, tokenizer, ex, cfg) for ex in examples]
    return [
        surface(model, tokenizer, ex, cfg, known=landscape_cells(land, i, m), own=float(land.loss[i]))
        for i, ex in enumerate(examples)
    ]
