"""Second moments of a layer's inputs over chosen token positions: Σ x xᵀ (or its diagonal Σ x²)
over the positions a (B, T) mask keeps, the rows cast to a given dtype first.

K-FADE's input factor A = E[a aᵀ] and REGLU's input covariances C_f, C_r (float32, over the attended
tokens), and the neuron statistics' E[a_j²] (float64, diagonal only, over the answer-predicting
positions) are all this sum, divided by the number of positions kept.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch


def masked_rows(x: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The (N, d) rows of `x` (B, T, d) where `mask` (B, T, bool) holds, detached and cast to `dtype`."""
    return x.detach()[mask].to(dtype)


def second_moment(rows: torch.Tensor, diagonal: bool = False) -> torch.Tensor:
    """Σ over the rows of r rᵀ (d, d), or with `diagonal` only its diagonal Σ r² (d,): the full matrix
    of a d_ff-wide layer in float64 would take GBs where the neuron statistics need d_ff numbers."""
    return rows.pow(2).sum(0) if diagonal else rows.T @ rows


def masked_second_moment(
    x: torch.Tensor, mask: torch.Tensor, dtype: torch.dtype = torch.float32, diagonal: bool = False
) -> torch.Tensor:
    """Σ x xᵀ over the positions `mask` keeps (unnormalised), the rows cast to `dtype` first.

    >>> x = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])  # (B=1, T=3, d=2)
    >>> keep = torch.tensor([[True, False, True]])  # position 1 (padding) left out
    >>> masked_second_moment(x, keep)  # [1,2]ᵀ[1,2] + [5,6]ᵀ[5,6]
    tensor([[26., 32.],
            [32., 40.]])
    >>> masked_second_moment(x, keep, torch.float64, diagonal=True)
    tensor([26., 40.], dtype=torch.float64)
    """
    return second_moment(masked_rows(x, mask, dtype), diagonal)


class InputCovariance:
    """E[x xᵀ] of each named layer's input over the masked positions of a series of forwards.

    Per forward: `batch(mask)`, then the forward with `hook(name)` on each layer (model/hooks.py).
    Layers that read the very same tensor (q/k/v, gate/up) share one product per forward. The tensor
    is recognised by identity, kept as a weak reference: its address alone is not enough, since under
    `no_grad` a freed input's memory is reused by a later tensor of the same width, which would then
    be given the freed one's product.
    """

    def __init__(self, dtype: torch.dtype = torch.float32) -> None:
        self.dtype = dtype
        self.sums: dict[str, torch.Tensor] = {}
        self.count = 0  # positions kept, over all batches
        self._mask: torch.Tensor | None = None
        self._shared: dict[int, tuple[weakref.ref[torch.Tensor], torch.Tensor]] = {}

    def batch(self, mask: torch.Tensor) -> None:
        """The (B, T) bool mask of the positions the next forward's products are taken over."""
        self._mask = mask
        self._shared.clear()
        self.count += int(mask.sum())

    def add(self, name: str, x: torch.Tensor) -> None:
        """Add Σ x xᵀ over the current mask to layer `name`'s sum."""
        if self._mask is None:
            raise RuntimeError("InputCovariance.batch(mask) must come before the forward")
        ref, prod = self._shared.get(id(x), (None, None))
        if ref is None or ref() is not x or prod is None:
            prod = masked_second_moment(x, self._mask, self.dtype)
            self._shared[id(x)] = (weakref.ref(x), prod)
        self.sums[name] = prod if name not in self.sums else self.sums[name] + prod

    def hook(self, name: str) -> Callable[..., Any]:
        """A forward hook that adds the layer's first input under `name`."""

        def fn(module: torch.nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            self.add(name, inputs[0])

        return fn

    def mean(self) -> dict[str, torch.Tensor]:
        """Each layer's sum divided by the positions kept (1 if none were)."""
        n = max(self.count, 1)
        return {k: v / n for k, v in self.sums.items()}
