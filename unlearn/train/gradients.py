"""Ways to combine the forget and retain gradients other than adding them.

A method's `terms` give a forget part L_f and a retain part L_r (each already weighted). Most
methods step on ∇(L_f + L_r). The rules here take the two gradients apart, g_f = ∇L_f and
g_r = ∇L_r over the trained tensors, and return the direction to step on instead:

- `RetainProjection` (GU, arXiv 2511.17100): g_f with its component in the span of the last k
  retain gradients removed, per tensor, then + g_r. A switch for every gradient method.
- `BlurRule` (BLUR, arXiv 2506.08164): g_r + (γ − ⟨g_r, g_f⟩/‖g_f‖²)·g_f: the whole forget
  step, plus the part of the retain gradient orthogonal to it.
- `OrthogonalForget` (OFMU first-order, arXiv 2509.22483): g_f − β·⟨g_f, g_r⟩/‖g_r‖²·g_r, + g_r.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import deque

import torch

from unlearn.errors import UserError

Grads = list[torch.Tensor]  # one gradient per trained tensor, in the trainable's order
EPS = 1e-12


def dot(a: Grads, b: Grads) -> torch.Tensor:
    return sum((x.double() * y.double()).sum() for x, y in zip(a, b, strict=True))


def cosine(a: Grads, b: Grads) -> float:
    denom = (dot(a, a) * dot(b, b)).sqrt()
    return float(dot(a, b) / denom) if denom > EPS else 0.0


class GradRule(ABC):
    """Combines (g_f, g_r) into the gradient the optimizer sees, and says what it did."""

    name = "?"

    @abstractmethod
    def combine(self, g_f: Grads, g_r: Grads) -> tuple[Grads, dict[str, float]]: ...


class RetainProjection(GradRule):
    """GU: remove from g_f its component in the span of the last `k` retain gradients, per tensor
    (an orthonormal basis from a QR decomposition), then add g_r. The paper also preconditions
    with Adam's diagonal; this rule projects the raw gradients (the optimizer then applies Adam)."""

    name = "gu"

    def __init__(self, k: int = 3) -> None:
        if k < 1:
            raise UserError(f"the projection needs at least 1 retain gradient, got k = {k}")
        self.k = k
        self.history: list[deque[torch.Tensor]] = []

    def combine(self, g_f: Grads, g_r: Grads) -> tuple[Grads, dict[str, float]]:
        if not self.history:
            self.history = [deque(maxlen=self.k) for _ in g_r]
        out, removed = [], 0.0
        for f, r, past in zip(g_f, g_r, self.history, strict=True):
            if r.abs().sum() > 0:
                past.append(r.detach().flatten().clone())
            if not past:
                out.append(f + r)
                continue
            basis, _ = torch.linalg.qr(torch.stack(list(past), 1).double())  # (n, m), orthonormal columns
            flat = f.flatten().double()
            along = basis @ (basis.T @ flat)  # (n,): the part of g_f inside the retain span
            removed += float(along.pow(2).sum())
            out.append((flat - along).to(f.dtype).view_as(f) + r)
        total = float(dot(g_f, g_f))
        return out, {"cos_fr": cosine(g_f, g_r), "projected_share": removed / total if total > EPS else 0.0}


class BlurRule(GradRule):
    name = "blur"

    def __init__(self, gamma: float = 1.0) -> None:
        self.gamma = gamma

    def combine(self, g_f: Grads, g_r: Grads) -> tuple[Grads, dict[str, float]]:
        ff = dot(g_f, g_f)
        coef = self.gamma - (dot(g_r, g_f) / ff if ff > EPS else 0.0)
        return [r + float(coef) * f for f, r in zip(g_f, g_r, strict=True)], {
            "cos_fr": cosine(g_f, g_r),
            "blur_coef": float(coef),
        }


class OrthogonalForget(GradRule):
    name = "ofmu"

    def __init__(self, beta: float = 1.0) -> None:
        self.beta = beta

    def combine(self, g_f: Grads, g_r: Grads) -> tuple[Grads, dict[str, float]]:
        rr = dot(g_r, g_r)
        coef = self.beta * (dot(g_f, g_r) / rr if rr > EPS else 0.0)
        return [f - float(coef) * r + r for f, r in zip(g_f, g_r, strict=True)], {"cos_fr": cosine(g_f, g_r)}


def grads_of(term: torch.Tensor, params: list[torch.nn.Parameter], keep: bool = False) -> Grads:
    """∇term over `params` by one backward pass (zeros where the term does not reach)."""
    if not term.requires_grad:
        return [torch.zeros_like(p) for p in params]
    gs = torch.autograd.grad(term, params, retain_graph=keep, allow_unused=True)
    return [torch.zeros_like(p) if g is None else g for g, p in zip(gs, params, strict=True)]


def split_grads(
    forget_term: torch.Tensor, retain_term: torch.Tensor, params: list[torch.nn.Parameter]
) -> tuple[Grads, Grads]:
    """∇L_f and ∇L_r over `params` by two backward passes (zeros where a term does not reach)."""
    return grads_of(forget_term, params, keep=True), grads_of(retain_term, params)
