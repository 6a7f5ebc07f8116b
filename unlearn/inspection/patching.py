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

import warnings
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
from unlearn.model.forward import answer_forward
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


def _logp(model: PreTrainedModel, batch: dict[str, torch.Tensor], **kwargs: Any) -> torch.Tensor:
    """The gold answer's summed log-probability per row, (R,). `kwargs` go to the forward."""
    out, labels = answer_forward(model, batch, **kwargs)
    total, _ = sequence_nll(out.logits, labels)
    return -total.double()


@contextmanager
def starting_at(model: PreTrainedModel, first: int) -> Iterator[None]:
    """Within the block the decoder runs its layers from `first` on, reading `inputs_embeds` as the
    residual stream entering that layer (the output of layer first − 1). A row patched at layer i
    computes layers below i exactly as the unpatched model does, so they need not run again."""
    base = model.model  # decoder_layers() found the layers here
    full = base.layers
    base.layers = torch.nn.ModuleList(list(full)[first:])
    try:
        yield
    finally:
        base.layers = full


@dataclass
class _Rows:
    """Batched patched forwards of one item: log p under each row's patches, rows in chunks of
    `max_rows`. With `skip`, rows are sorted by their lowest patched layer and each chunk starts at
    its rows' lowest (from the unpatched model's residual stream there), about halving the work."""

    model: PreTrainedModel
    batch: dict[str, torch.Tensor]
    max_rows: int
    skip: bool
    tick: Callable[[int], None]

    def logp(
        self,
        source: dict[Key, torch.Tensor],
        base: dict[Key, torch.Tensor],
        plan: Sequence[Sequence[Key]],
        where: torch.Tensor,
    ) -> np.ndarray:
        """`source`: the activations patched in; `base`: the unpatched model's own (its residual stream
        starts the skipped rows)."""
        lowest = [min((i for _, i in keys), default=0) if self.skip else 0 for keys in plan]
        order = sorted(range(len(plan)), key=lowest.__getitem__)
        out = np.empty(len(plan))
        for s in range(0, len(order), self.max_rows):
            idx = order[s : s + self.max_rows]
            first, n = min(lowest[r] for r in idx), len(idx)
            rows = {k: v.expand(n, -1) for k, v in self.batch.items()}
            with patched(self.model, source, [plan[r] for r in idx], where[idx]):
                if first == 0:
                    lp = _logp(self.model, rows)
                else:
                    with starting_at(self.model, first):
                        lp = _logp(self.model, rows, inputs_embeds=base[("residual", first - 1)].expand(n, -1, -1))
            out[idx] = lp.cpu().numpy()
            self.tick(n)
        return out


def skipping_holds(
    model: PreTrainedModel, batch: dict[str, torch.Tensor], base: dict[Key, torch.Tensor], full: float
) -> bool:
    """Whether starting the decoder half-way from its own residual stream `base` gives its full
    forward's answer log-probability `full` (a model that rescales `inputs_embeds` or indexes its layers
    by position would not): if not, every row runs from the embeddings."""
    n_layers = len(decoder_layers(model))
    if n_layers < 2:
        return False
    half = n_layers // 2
    with starting_at(model, half):
        got = float(_logp(model, batch, inputs_embeds=base[("residual", half - 1)])[0])
    return abs(got - full) <= 0.02 + 1e-3 * abs(full)  # bf16 noise passes; a wrong start is off by far more


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
    progress: Callable[[int, int], None] | None = None,
    skip: bool = True,
) -> Patching:
    """Both directions of patching for one question-answer item; `before()` makes the model compute
    as before the run (a trainable's `reference`), outside it the model is "after". `progress(done,
    total)` is told the patched rows computed so far (an exception it raises stops the patching; the
    hooks come off on the way out). `skip`: start each row at its lowest patched layer where the
    model allows it (`skipping_holds`); False runs every row from the embeddings (the same figures)."""
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
    needed = sorted({*components, "residual", "attention", "mlp"}, key=COMPONENTS.index)  # see below
    with before(), recorded(model, needed) as from_before:
        lp_before = float(_logp(model, batch)[0])
    with recorded(model, needed) as from_after:
        lp_after = float(_logp(model, batch)[0])
    rows = [(c, g, i) for c in components for g in groups for i in range(n_layers)]
    total, done = 2 * len(rows) + 2 * n_layers, [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    run = _Rows(model, batch, max_rows, skip and skipping_holds(model, batch, from_after, lp_after), tick)
    plan = [[(c, i)] for c, _, i in rows]
    where = torch.stack([at[g] for _, g, _ in rows])  # (R, T)
    shape = (len(components), len(groups), n_layers)
    gap = lp_before - lp_after  # how much the run took away; under MIN_GAP the shares are NaN
    share = (lambda lp, base: (lp - base) / gap) if abs(gap) >= MIN_GAP else (lambda lp, base: lp * np.nan)
    recovery = share(run.logp(from_before, from_after, plan, where), lp_after).reshape(shape)
    with before():
        reverse = share(run.logp(from_after, from_before, plan, where), lp_before).reshape(shape)
        reverse = -reverse  # (lp − lp_before) / (lp_after − lp_before)
    # each layer's attention and MLP outputs together at all positions; then the best k layers together
    everywhere = at["all"].expand(n_layers, -1)
    single_plan = [[("attention", i), ("mlp", i)] for i in range(n_layers)]
    single = share(run.logp(from_before, from_after, single_plan, everywhere), lp_after)
    order = np.argsort(-np.nan_to_num(single, nan=-np.inf), kind="stable")
    cum_plan = [[(c, int(i)) for i in order[: k + 1] for c in ("attention", "mlp")] for k in range(n_layers)]
    cumulative = share(run.logp(from_before, from_after, cum_plan, everywhere), lp_after)
    return Patching(tuple(components), tuple(groups), lp_before, lp_after, recovery, reverse, single, cumulative, order)


def set_mean(items: Sequence[Patching]) -> Patching:
    """The items' mean patching (a set's heatmap and curves), each cell over the items the run changed
    (NaN where it changed none). `order` is the mean curve's own: the layers by their mean single-layer
    recovery; `cumulative` the items' mean at each k (each item adds its own best layers)."""
    if not items:
        raise UserError("no items were patched: there is no set mean to draw")

    def mean(name: str) -> np.ndarray:
        stacked = np.stack([getattr(p, name) for p in items])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a cell NaN for every item stays NaN
            return np.nanmean(stacked, 0)

    single = mean("single")
    first = items[0]
    return Patching(
        first.components,
        first.groups,
        float(np.mean([p.logp_before for p in items])),
        float(np.mean([p.logp_after for p in items])),
        mean("recovery"),
        mean("reverse"),
        single,
        mean("cumulative"),
        np.argsort(-np.nan_to_num(single, nan=-np.inf), kind="stable"),
    )


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
