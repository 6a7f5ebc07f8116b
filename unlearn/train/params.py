"""Which parameters a run trains, and how the model goes back to "before".

"Before" is never a second full model:
- LoRA: the adapters switched off are "before" (and the reference model of NPO, KL, DPO, UNDIAL);
  deleting them restores the original weights exactly, since those were never touched.
- Tensors (full fine-tuning, or a method's own subset such as RMU's down_proj matrices): only the
  trained tensors are saved aside; "before" swaps them in for the duration of a `with` block.
"""

from __future__ import annotations

import numbers
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer
from transformers import PreTrainedModel

from unlearn.errors import UserError
from unlearn.model.fused_lora import fuse
from unlearn.model.hooks import forward_hooks

ADAPTER = "unlearn"
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class Trainable(ABC):
    """Base: the trained parameters, a `reference()` context, `reset()` and the changed weights."""

    kind = "?"

    def __init__(self, model: PreTrainedModel) -> None:
        self.model = model
        self.params: list[torch.nn.Parameter] = []

    @abstractmethod
    def reference(self) -> AbstractContextManager[None]:
        """Within the block the model computes as it did before the run."""

    @abstractmethod
    def reset(self) -> None:
        """Restore the weights before the run exactly and stop training."""

    @abstractmethod
    def changed(self) -> dict[str, torch.Tensor]:
        """The weights the run changed, by parameter name (what a saved run stores): a copy on the CPU,
        never a view of the live tensors (on a CPU model `.cpu()` would return the parameter itself, and
        the next optimizer step would change a kept step along with the model)."""

    def n_trained(self) -> int:
        return sum(p.numel() for p in self.params)

    def side_by_side(self) -> AbstractContextManager[None] | None:
        """A context in which a batch of two rows computes row 0 as before and row 1 as after in
        one pass, or None where the weights themselves changed (then before and after take a pass each)."""
        return None


class LoraTrainable(Trainable):
    kind = "lora"

    def __init__(
        self,
        model: PreTrainedModel,
        r: int = 8,
        alpha: int = 16,
        targets: list[str] | None = None,
        config: LoraConfig | None = None,
    ) -> None:
        """An adapter of rank `r` on `targets`, or one built from `config` (an imported PEFT adapter's)."""
        super().__init__(model)
        check_rank(model, config.r if config else r)  # before the model is touched: see check_rank
        for p in model.parameters():
            p.requires_grad_(False)
        if config is None:
            names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
            targets = [t for t in (targets or LORA_TARGETS) if t in names]
            if not targets:
                raise UserError(f"none of the LoRA target modules {LORA_TARGETS} exist in this model")
            # lora_dropout = 0: the unlearning losses compare against the reference exactly
            config = LoraConfig(r=r, lora_alpha=alpha, target_modules=targets, lora_dropout=0.0)
        self.mixed_rows = not config.use_dora  # PEFT's mixed-batch forward does not take DoRA
        model.add_adapter(config, ADAPTER)
        model.set_adapter(ADAPTER)
        self._unfuse = fuse(model)  # PEFT's plain LoRA layers in one autograd step each (fused_lora.py)
        self.params = [p for n, p in model.named_parameters() if "lora_" in n]
        for p in self.params:
            p.requires_grad_(True)

    @contextmanager
    def reference(self) -> Iterator[None]:
        self.model.disable_adapters()
        try:
            yield
        finally:
            self.model.enable_adapters()

    def reset(self) -> None:
        self._unfuse()
        self.model.delete_adapter(ADAPTER)
        self.params = []

    @contextmanager
    def _mixed_rows(self) -> Iterator[None]:
        # PEFT's mixed-batch LoRA forward: `adapter_names` per row, "__base__" = adapters off. The base
        # weights are read once for both rows, which halves generation on a CPU, where each new token
        # costs a pass over all the weights (memory-bound), not arithmetic.
        names = ["__base__", ADAPTER]

        def inject(_module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
            return args, {**kwargs, "adapter_names": names}

        lora_layers = [m for m in self.model.modules() if isinstance(m, LoraLayer)]
        with forward_hooks(((m, inject) for m in lora_layers), pre=True, with_kwargs=True):
            yield

    def side_by_side(self) -> AbstractContextManager[None] | None:
        return self._mixed_rows() if self.mixed_rows else None

    def changed(self) -> dict[str, torch.Tensor]:
        return {n: _snapshot(p) for n, p in self.model.named_parameters() if "lora_" in n}


def _snapshot(p: torch.Tensor) -> torch.Tensor:
    return p.detach().to("cpu", copy=True).contiguous()


def check_rank(model: PreTrainedModel, r: Any) -> None:
    """A LoRA rank no adapter can have is refused up front. PEFT itself refuses r <= 0 only half-way
    through `add_adapter`, after transformers has marked the model as holding adapters: every later
    run on the shared model then failed with "no attribute peft_config". A rank above the hidden size
    adds nothing (the update of a d-wide matrix has rank <= d) and only costs memory (r = 10**9 would
    allocate terabytes)."""
    hidden = getattr(model.config, "hidden_size", None)
    top = hidden if isinstance(hidden, int) and hidden > 0 else None
    if isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1 or (top is not None and r > top):
        span = f"1 to {top} (the model's hidden size)" if top else "1 or more"
        raise UserError(f"LoRA rank must be a whole number from {span}, got {r!r}: 8 or 16 is usual")


def selected_tensors(
    model: PreTrainedModel, pattern: str = r".*", skip_embeddings: bool = True
) -> list[tuple[str, torch.nn.Parameter]]:
    """The parameters a tensor run trains: names matching `pattern`, the (tied) embeddings left out."""
    rx = re.compile(pattern)
    embeds = {id(model.get_input_embeddings().weight)}
    out = model.get_output_embeddings()
    if out is not None:
        embeds.add(id(out.weight))
    return [
        (n, p) for n, p in model.named_parameters() if rx.fullmatch(n) and not (skip_embeddings and id(p) in embeds)
    ]


def plain_state_dict(model: PreTrainedModel) -> dict[str, torch.Tensor]:
    """The model's tensors under their own names: LoRA wrappers left by an earlier run rename
    `q_proj.weight` to `q_proj.base_layer.weight`, and adapter tensors are not the model's."""
    return {n.replace(".base_layer", ""): t for n, t in model.state_dict().items() if "lora_" not in n}


class TensorTrainable(Trainable):
    kind = "tensors"

    def __init__(
        self, model: PreTrainedModel, pattern: str = r".*", skip_embeddings: bool = True, offload: bool = False
    ) -> None:
        """The parameters matching `pattern`. With `offload` the "before" copies live in CPU memory and are
        moved to the model's device only inside `reference()`: a GPU then holds one model, not one and
        a pair's worth of swapped tensors, at the price of a copy per use of "before"."""
        super().__init__(model)
        self.names: list[str] = []
        for p in model.parameters():
            p.requires_grad_(False)
        for n, p in selected_tensors(model, pattern, skip_embeddings):
            self.names.append(n)
            self.params.append(p)
        if not self.params:
            raise UserError(f"no parameter matches {pattern!r}")
        for p in self.params:
            p.requires_grad_(True)
        self.offload = offload
        # only the trained tensors
        self.saved = [p.detach().to("cpu", copy=True) if offload else p.detach().clone() for p in self.params]

    @contextmanager
    def reference(self) -> Iterator[None]:
        if self.offload:  # "before" in for the block, "after" kept where it is
            after = [p.data for p in self.params]
            with torch.no_grad():
                for p, s in zip(self.params, self.saved, strict=True):
                    p.data = s.to(p.device)
            try:
                yield
            finally:
                for p, a in zip(self.params, after, strict=True):
                    p.data = a
            return
        # swap storage pointers, not values: O(1) and exact
        with torch.no_grad():
            for p, s in zip(self.params, self.saved, strict=True):
                p.data, s.data = s.data, p.data
        try:
            yield
        finally:
            with torch.no_grad():
                for p, s in zip(self.params, self.saved, strict=True):
                    p.data, s.data = s.data, p.data

    def reset(self) -> None:
        with torch.no_grad():
            for p, s in zip(self.params, self.saved, strict=True):
                p.copy_(s)
                p.requires_grad_(False)

    def changed(self) -> dict[str, torch.Tensor]:
        return {n: _snapshot(p) for n, p in zip(self.names, self.params, strict=True)}


def make_trainable(
    model: PreTrainedModel,
    mode: str,
    pattern: str | None = None,
    lora_r: int = 8,
    lora_targets: list[str] | None = None,
) -> Trainable:
    """`lora` (default; on `lora_targets`, else every projection), `full` (every weight but the
    embeddings) or `subset` (a method's `pattern`)."""
    if mode == "lora":
        return LoraTrainable(model, r=lora_r, alpha=2 * lora_r, targets=lora_targets)
    if mode == "full":
        return TensorTrainable(model)
    if mode == "subset":
        if not pattern:
            raise UserError("this method trains no subset of its own: use 'lora' or 'full'")
        return TensorTrainable(model, pattern)
    raise UserError(f"unknown parameter mode {mode!r}; valid: lora, full, subset")
