"""Activation patching between the model before and after a run: where the change lives (issue 20).

For one item (question + gold answer) the "after" model runs while, at one decoder layer, one
component's output is replaced by the "before" model's at a group of positions:

- components: the residual stream after the layer, the attention block's output, the MLP's output
- position groups: the prompt (question) tokens, the answer tokens, all tokens

recovery = (log p_patched − log p_after) / (log p_before − log p_after), log p the gold answer's summed
log-probability: 0 = the patch brought nothing back, 1 = the answer is as likely as before the run.
The reverse direction runs "before" with "after"'s activations: (log p_patched − log p_before) /
(log p_after − log p_before), the share of the drop that layer carries.

Two summaries per item: `best_layer_recovery`, the most one layer's attention and MLP outputs patched
together bring back (a residual-stream patch carries every layer below it, so the residual rows are read
as a curve, not ranked); `layers_for_half`, the share of layers whose attention and MLP outputs, patched together in
order of their single-layer recovery, bring back half (None where even all of them do not: the run
changed what the components read, the embeddings or the final norm).

Every (component, group, layer) row of one direction is one row of a batched forward (`max_rows` at a
time): the item is repeated and each row's hook replaces only its own layer's output at its positions.
The hooks live inside `patched()` / `recorded()`, so the model is left exactly as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, encode
from unlearn.errors import UserError
from unlearn.model.forward import answer_logits
from unlearn.model.hooks import forward_hooks
from unlearn.train.losses import sequence_nll

COMPONENTS = ("residual", "attention", "mlp")
GROUPS = ("question", "answer", "all")
Key = tuple[str, int]  # (component, layer)
# Below this change of the answer's summed log-probability (nats) the run left the item as it was: a share
# of it would be float rounding (a float32 sum of ~50 nats moves in steps of ~1e-5), so none is given.
MIN_GAP = 0.01


@dataclass
class Patching:
    """One item's patching in both directions. C components, G position groups, L layers."""

    components: tuple[str, ...]
    groups: tuple[str, ...]
    logp_before: float  # the gold answer's summed log-probability under each model
    logp_after: float
    recovery: np.ndarray  # (C, G, L) before's activations patched into after
    reverse: np.ndarray  # (C, G, L) after's activations patched into before
    single: np.ndarray  # (L,) each layer's attention and MLP outputs patched together, all positions
    cumulative: np.ndarray  # (L,) the k best layers (by `single`) patched together, k = 1..L
    order: np.ndarray  # (L,) the layers in the order `cumulative` adds them

    @property
    def layers(self) -> int:
        return self.recovery.shape[-1]

    def best_layer_recovery(self) -> float:
        """The most one layer (its attention and MLP outputs, at all positions) brings back."""
        return float(np.nanmax(self.single)) if np.isfinite(self.single).any() else float("nan")

    def layers_for_half(self) -> float | None:
        """The share of layers that, patched together, bring back half of the answer's log-probability."""
        hit = np.flatnonzero(self.cumulative >= 0.5)
        return (int(hit[0]) + 1) / self.layers if len(hit) else None


def decoder_layers(model: PreTrainedModel) -> list[torch.nn.Module]:
    """The decoder layers in order, each with `self_attn` and `mlp` (Llama, Mistral, Qwen, SmolLM...)."""
    base = getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    if layers is None or not all(hasattr(m, "self_attn") and hasattr(m, "mlp") for m in layers):
        raise UserError(
            f"{type(model).__name__} has no decoder layers at `model.layers` with `self_attn` and `mlp`: "
            "activation patching reads those (Llama-style models)"
        )
    return list(layers)


def _module(layer: torch.nn.Module, component: str) -> torch.nn.Module:
    return {"residual": layer, "attention": layer.self_attn, "mlp": layer.mlp}[component]


def _hidden(out: Any) -> torch.Tensor:
    return out[0] if isinstance(out, tuple) else out


@contextmanager
def recorded(model: PreTrainedModel, components: Sequence[str]) -> Iterator[dict[Key, torch.Tensor]]:
    """Every layer's output of each component in the forwards run inside the block, (1, T, d) each
    (of the last forward, first row)."""
    seen: dict[Key, torch.Tensor] = {}

    def keeper(key: Key) -> Callable[..., None]:
        def keep(_m: torch.nn.Module, _a: Any, out: Any) -> None:
            seen[key] = _hidden(out)[:1].detach().clone()

        return keep

    layers = decoder_layers(model)
    with forward_hooks((_module(layer, c), keeper((c, i))) for i, layer in enumerate(layers) for c in components):
        yield seen


@contextmanager
def patched(
    model: PreTrainedModel, source: dict[Key, torch.Tensor], plan: Sequence[Sequence[Key]], where: torch.Tensor
) -> Iterator[None]:
    """Within the block, row r of a forward has the outputs `plan[r]` (component, layer) replaced by
    `source`'s at the positions `where[r]` (R, T) bool; rows not naming a module compute as usual."""
    rows_of: dict[Key, list[int]] = {}
    for r, keys in enumerate(plan):
        for key in keys:
            rows_of.setdefault(key, []).append(r)

    def swapper(key: Key, rows: list[int]) -> Callable[..., Any]:
        idx = torch.tensor(rows, device=where.device)
        mask = where[idx].unsqueeze(-1)  # (R', T, 1)

        def swap(_m: torch.nn.Module, _a: Any, out: Any) -> Any:
            hidden = _hidden(out)
            new = hidden.clone()
            new[idx] = torch.where(mask, source[key].to(hidden.dtype), hidden[idx])
            return (new, *out[1:]) if isinstance(out, tuple) else new

        return swap

    layers = decoder_layers(model)
    with forward_hooks((_module(layers[i], c), swapper((c, i), rows)) for (c, i), rows in rows_of.items()):
        yield


def _logp(model: PreTrainedModel, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """The gold answer's summed log-probability per row, (R,)."""
    total, _ = sequence_nll(*answer_logits(model, batch))
    return -total.double()


def _rows(
    model: PreTrainedModel,
    batch: dict[str, torch.Tensor],
    source: dict[Key, torch.Tensor],
    plan: Sequence[Sequence[Key]],
    where: torch.Tensor,
    max_rows: int,
) -> np.ndarray:
    """log p of the item under each row's patches, in chunks of `max_rows` rows."""
    out = []
    for s in range(0, len(plan), max_rows):
        n = len(plan[s : s + max_rows])
        rows = {k: v.expand(n, -1) for k, v in batch.items()}
        with patched(model, source, plan[s : s + max_rows], where[s : s + max_rows]):
            out.append(_logp(model, rows).cpu().numpy())
    return np.concatenate(out)


@torch.no_grad()
def patch_item(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    ex: Example,
    before: Callable[[], AbstractContextManager[Any]],
    components: Sequence[str] = COMPONENTS,
    groups: Sequence[str] = GROUPS,
    max_rows: int = 64,
    max_tokens: int = 256,
) -> Patching:
    """Both directions of patching for one question-answer item; `before()` makes the model compute
    as before the run (a trainable's `reference`), outside it the model is "after"."""
    if not ex.is_qa:
        raise UserError("activation patching reads a question and its gold answer: this item is a passage")
    bad = [c for c in components if c not in COMPONENTS] + [g for g in groups if g not in GROUPS]
    if bad:
        raise UserError(f"unknown {bad}: components are {', '.join(COMPONENTS)}; groups {', '.join(GROUPS)}")
    device = next(model.parameters()).device
    enc = encode(tokenizer, ex, max_tokens)
    ids = torch.tensor([enc.input_ids], device=device)
    labels = torch.tensor([enc.labels], device=device)
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    t, n_layers = ids.shape[1], len(decoder_layers(model))
    start = int((labels[0] != IGNORE).int().argmax())
    cols = torch.arange(t, device=device)
    at = {"question": cols < start, "answer": cols >= start, "all": torch.ones_like(cols, dtype=torch.bool)}
    needed = sorted({*components, "attention", "mlp"}, key=COMPONENTS.index)  # cumulative reads both
    with before(), recorded(model, needed) as from_before:
        lp_before = float(_logp(model, batch)[0])
    with recorded(model, needed) as from_after:
        lp_after = float(_logp(model, batch)[0])
    rows = [(c, g, i) for c in components for g in groups for i in range(n_layers)]
    plan = [[(c, i)] for c, _, i in rows]
    where = torch.stack([at[g] for _, g, _ in rows])  # (R, T)
    shape = (len(components), len(groups), n_layers)
    gap = lp_before - lp_after  # how much the run took away; under MIN_GAP the shares are NaN
    share = (lambda lp, base: (lp - base) / gap) if abs(gap) >= MIN_GAP else (lambda lp, base: lp * np.nan)
    recovery = share(_rows(model, batch, from_before, plan, where, max_rows), lp_after).reshape(shape)
    with before():
        reverse = share(_rows(model, batch, from_after, plan, where, max_rows), lp_before).reshape(shape)
        reverse = -reverse  # (lp − lp_before) / (lp_after − lp_before)
    single = _single_layer(model, batch, from_before, at["all"], n_layers, max_rows, lp_after, share)
    order = np.argsort(-np.nan_to_num(single, nan=-np.inf), kind="stable")
    cum_plan = [[(c, int(i)) for i in order[: k + 1] for c in ("attention", "mlp")] for k in range(n_layers)]
    everywhere = at["all"].expand(n_layers, -1)
    cumulative = share(_rows(model, batch, from_before, cum_plan, everywhere, max_rows), lp_after)
    return Patching(tuple(components), tuple(groups), lp_before, lp_after, recovery, reverse, single, cumulative, order)


def _single_layer(
    model: PreTrainedModel,
    batch: dict[str, torch.Tensor],
    source: dict[Key, torch.Tensor],
    everywhere: torch.Tensor,
    n_layers: int,
    max_rows: int,
    lp_after: float,
    share: Callable[[np.ndarray, float], np.ndarray],
) -> np.ndarray:
    """Each layer's attention and MLP outputs patched together at all positions: its recovery, (L,)."""
    plan = [[("attention", i), ("mlp", i)] for i in range(n_layers)]
    return share(_rows(model, batch, source, plan, everywhere.expand(n_layers, -1), max_rows), lp_after)


def set_summary(items: Sequence[Patching]) -> dict[str, float | None]:
    """A set's figures: the mean of each item's best single-layer recovery and of its share of layers
    for half (over the items that reach half; `reach_half` says how many do)."""
    best = [b for b in (p.best_layer_recovery() for p in items) if np.isfinite(b)]  # items the run changed
    half = [h for h in (p.layers_for_half() for p in items) if h is not None]
    return {
        "best_layer_recovery": float(np.mean(best)) if best else None,
        "layers_for_half": float(np.mean(half)) if half else None,
        "reach_half": len(half) / len(items) if items else None,
        "items": len(items),
    }
