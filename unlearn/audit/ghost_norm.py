"""Every row's gradient norm from one forward and one backward of a padded batch ("ghost" norms).

GradNorm (gradnorm.py) needs ‖∇θ L̄(x)‖ for each item x apart. Summing the items' losses and calling
backward once gives the batch's gradient, not the items'. But one item's gradient norm for a linear
layer y = W a can be had without forming that gradient: with a (T, in) the layer's inputs and g
(T, out) the loss's gradient at its outputs over the item's positions,

    ∇W = Σ_t g_t a_tᵀ,   ‖∇W‖²_F = Σ_{t,s} (a_t·a_s)(g_t·g_s) = ⟨a aᵀ, g gᵀ⟩

(Goodfellow 2015, "Efficient Per-Example Gradient Computations", arXiv 1510.01799; for sequences Li
et al. 2022, "Large Language Models Can Be Strong Differentially Private Learners", arXiv 2110.05679,
sec. 4, "ghost clipping"). The rows of a padded batch do not interact (attention masks the padding,
whose gradient is zero), so one backward gives every row's g at once. The weight gradients themselves
are never formed: the backward is asked only for the gradient at the embeddings' outputs, so autograd
skips every weight-gradient product, and the (T, T) products above cost far less.

- an embedding E read at ids x: ∇E = Σ_t e_{x_t} g_tᵀ, so ‖∇E‖² = Σ_{t,s} [x_t = x_s] (g_t·g_s)
  (positions holding the padding index left out: the embedding's backward gives them no gradient)
- an output head H tied to E (SmolLM2, Llama 3.2, Gemma): the weight's gradient is ∇E + ∇H, so
  2⟨∇E, ∇H⟩ = 2 Σ_{s,t} δ_s[x_t] (g_t·h_s) is added (δ the gradient at the logits, h the head's inputs)
- a linear layer's bias: ‖Σ_t g_t‖²
- any other weight (the norms' scales: small and elementwise): each row's gradient itself, by autograd
  through that one module, with the row's input and output gradient

A model this does not describe (a weight in another kind of module, a module run twice in one
forward, a layer that sees tokens as other than (rows, positions, ...) as mixture-of-experts layers
do, a layer whose input does not depend on the embeddings) raises `Unsupported`;
`gradnorm.gradient_norms` then takes one item at a time. Equal to one backward per item to float
rounding (tests/test_gradnorm.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import PreTrainedModel

from unlearn.model.forward import Batch, answer_logits
from unlearn.model.hooks import forward_hooks
from unlearn.train.losses import sequence_nll

PLAIN = (nn.Linear.forward, nn.Embedding.forward)


class Unsupported(Exception):
    """The model's layers are not all of a kind `batch_norms` can take apart by row."""


@dataclass
class Layout:
    """Which module holds each weight whose norm is wanted, by how it is taken apart."""

    linear: dict[nn.Linear, tuple[bool, bool]] = field(default_factory=dict)  # module -> (weight?, bias?)
    embedding: list[nn.Embedding] = field(default_factory=list)
    tied: dict[nn.Linear, nn.Embedding] = field(default_factory=dict)  # output head -> the embedding it shares
    small: dict[nn.Module, list[str]] = field(default_factory=dict)  # module -> its wanted weights' names


def layout(model: nn.Module, params: Sequence[nn.Parameter]) -> Layout:
    """Sort `params` by the module that holds them; `Unsupported` where one fits no rule."""
    owners: dict[int, list[nn.Module]] = {}
    for m in model.modules():
        for p in m.parameters(recurse=False):
            owners.setdefault(id(p), []).append(m)
    out = Layout()
    for p in params:
        ms = owners.get(id(p), [])
        for m in ms:  # a subclass with its own forward (a scaled lookup, a quantized layer) breaks the rules
            if isinstance(m, (nn.Linear, nn.Embedding)) and type(m).forward not in PLAIN:
                raise Unsupported(f"{type(m).__name__} computes other than a plain linear layer or lookup")
        lin = [m for m in ms if isinstance(m, nn.Linear)]
        emb = [m for m in ms if isinstance(m, nn.Embedding)]
        if len(ms) == 2 and len(lin) == len(emb) == 1 and lin[0].weight is p is emb[0].weight:
            out.tied[lin[0]] = emb[0]
            out.linear[lin[0]] = (True, out.linear.get(lin[0], (False, False))[1])  # the head's ghost norm
            ms = emb  # the embedding's rule, plus the cross term
        if len(ms) != 1:
            raise Unsupported(f"a weight shared by {len(ms)} modules")
        m = ms[0]
        if isinstance(m, nn.Linear):
            w, b = out.linear.get(m, (False, False))
            out.linear[m] = (w or p is m.weight, b or p is m.bias)
        elif isinstance(m, nn.Embedding):
            if m.max_norm is not None or m.sparse:
                raise Unsupported("an embedding that renormalises or has sparse gradients")
            if m not in out.embedding:
                out.embedding.append(m)
        elif p.ndim <= 1:
            out.small.setdefault(m, []).append(next(n for n, q in m.named_parameters(recurse=False) if q is p))
        else:
            raise Unsupported(f"a {p.ndim}-D weight in a {type(m).__name__}")
    return out


def _ghost(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Per row ‖Σ_t g_t a_tᵀ‖²_F = ⟨a aᵀ, g gᵀ⟩ for a (B, T, in), g (B, T, out) -> (B,), in fp32."""
    a, g = a.float(), g.float()
    return (a @ a.transpose(1, 2) * (g @ g.transpose(1, 2))).sum((1, 2))


@dataclass
class _Capture:
    """What the hooks collect during one forward and backward."""

    rows: int
    sq: torch.Tensor  # (B,) the squared norm so far
    calls: set[nn.Module] = field(default_factory=set)
    starts: list[tuple[nn.Embedding, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (E, ids, out)
    head: dict[nn.Linear, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)  # tied head -> (h, δ)
    small: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = field(default_factory=list)  # (module, x, gy)

    def once(self, m: nn.Module, x: torch.Tensor, out: Any) -> None:
        if m in self.calls:
            raise Unsupported(f"{type(m).__name__} runs twice in one forward")
        self.calls.add(m)
        if x.ndim < 2 or x.shape[0] != self.rows or not isinstance(out, torch.Tensor) or out.shape[0] != self.rows:
            raise Unsupported(f"{type(m).__name__} sees its tokens other than as (rows, positions, ...)")


@contextmanager
def _hooks(lay: Layout, cap: _Capture) -> Iterator[None]:
    """Forward hooks that note each module's input and hang a hook on its output for the gradient."""

    def on_linear(m: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> None:
        a = args[0]
        cap.once(m, a, out)
        if not out.requires_grad:
            raise Unsupported("a linear layer whose input does not depend on the embeddings")
        weight, bias = lay.linear[m]
        a = a.detach()

        def on_grad(g: torch.Tensor) -> None:
            if m in lay.tied:
                cap.head[m] = (a, g.detach())
            if weight:
                cap.sq.add_(_ghost(a, g).to(cap.sq))
            if bias:
                cap.sq.add_(g.float().sum(1).flatten(1).square().sum(1).to(cap.sq))

        out.register_hook(on_grad)

    def on_embedding(m: nn.Module, args: tuple[Any, ...], out: torch.Tensor) -> torch.Tensor:
        cap.once(m, args[0], out)
        if not out.requires_grad:
            out = out.detach().requires_grad_()  # the backward starts here: nothing above it is wanted
        cap.starts.append((m, args[0], out))
        return out

    def on_small(m: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if len(args) != 1 or kwargs:
            raise Unsupported(f"{type(m).__name__} takes more than one input")
        cap.once(m, args[0], out)
        x = args[0].detach()
        if out.requires_grad:
            out.register_hook(lambda g: cap.small.append((m, x, g.detach())))

    # this thread's forwards only: GradNorm runs two batches side by side on a CPU (cpu_streams.py)
    with (
        forward_hooks([(m, on_linear) for m in lay.linear], this_thread=True),
        forward_hooks([(m, on_embedding) for m in lay.embedding], this_thread=True),
        forward_hooks([(m, on_small) for m in lay.small], with_kwargs=True, this_thread=True),
    ):
        yield


def _embedding_terms(cap: _Capture, lay: Layout, grads: Sequence[torch.Tensor]) -> None:
    """‖∇E‖² of each embedding and, for a tied head, the cross term 2⟨∇E, ∇H⟩, into cap.sq."""
    heads = {e: h for h, e in lay.tied.items()}
    for (m, ids, _), g in zip(cap.starts, grads, strict=True):
        g = g.float()  # (B, T, d)
        live = torch.ones_like(ids, dtype=torch.bool) if m.padding_idx is None else ids != m.padding_idx  # (B, T)
        g = g * live.unsqueeze(-1)
        same = ids.unsqueeze(2) == ids.unsqueeze(1)  # (B, T, T)
        cap.sq.add_((same * (g @ g.transpose(1, 2))).sum((1, 2)).to(cap.sq))
        head = heads.get(m)
        if head is not None and head in cap.head:
            h, delta = cap.head[head]  # (B, W, d), (B, W, V)
            w = delta.shape[1]
            picked = delta.float().gather(2, ids.unsqueeze(1).expand(-1, w, -1))  # (B, W, T): δ_s[x_t]
            cap.sq.add_(2 * (picked * (h.float() @ g.transpose(1, 2))).sum((1, 2)).to(cap.sq))


# functional_call swaps its leaves into the module and the weights back afterwards: two GradNorm streams
# (cpu_streams.py) swapping on one module at once could put the other's leaf back instead of the weight
_SWAPPING = threading.Lock()


def _small_terms(cap: _Capture, lay: Layout) -> None:
    """Each row's gradient of the small weights, by autograd through the one module that holds them."""
    for m, x, gy in cap.small:
        with torch.enable_grad(), _SWAPPING:
            for r in range(cap.rows):
                # fresh leaves in the weights' place: the model's own requires_grad flags stay untouched
                leaves = {n: getattr(m, n).detach().requires_grad_() for n in lay.small[m]}
                y = torch.func.functional_call(m, leaves, (x[r : r + 1],))
                grads = torch.autograd.grad((y * gy[r : r + 1]).sum(), list(leaves.values()), allow_unused=True)
                cap.sq[r] += sum(float(g.float().square().sum()) for g in grads if g is not None)


def batch_norms(model: PreTrainedModel, batch: Batch, lay: Layout) -> torch.Tensor:
    """‖∇θ L̄‖² of each row of `batch` over the weights `lay` was made for, (B,) float64. The weights'
    `requires_grad` flags are the caller's: the backward reads none of them."""
    b = batch["input_ids"].shape[0]
    cap = _Capture(b, torch.zeros(b, dtype=torch.float64, device=batch["input_ids"].device))
    with torch.enable_grad():
        with _hooks(lay, cap):
            total, count = sequence_nll(*answer_logits(model, batch))  # (B,), (B,)
        if not cap.starts:
            raise Unsupported("no embedding layer was run")
        outs = [out for _, _, out in cap.starts]
        grads = torch.autograd.grad((total / count).sum(), outs, allow_unused=True)
    grads = [torch.zeros_like(o) if g is None else g for o, g in zip(outs, grads, strict=True)]
    _embedding_terms(cap, lay, grads)
    _small_terms(cap, lay)  # after the hooks are gone: these forwards are not the model's
    return cap.sq
