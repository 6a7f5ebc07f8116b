"""An after checkpoint against the loaded model: read tensor by tensor, kept only where it differs.

A reviewer's unlearned checkpoint usually changed a few matrices (RMU: three) or all of them (a full
fine-tune). Safetensors files are read lazily, one tensor at a time, and only the tensors that differ
from the loaded (before) model are kept, so a checkpoint that changed three matrices costs three
matrices, not a second model (issue 16). Before anything is kept the two must be the same model:
architecture, sizes and vocabulary from the configs, then each tensor's shape.

>>> CheckpointDiff({}, same=10, total=10).summary()
'no tensor differs from the loaded model (10 compared): the checkpoint is the same model'
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedModel

from unlearn.errors import UserError

# Config fields that must agree for the after checkpoint to be the loaded model changed, not another model.
SAME_MODEL_FIELDS = ("model_type", "vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads")


class PairError(UserError):
    """The after checkpoint cannot be paired with the loaded model; the message says what differs."""


@dataclass
class CheckpointDiff:
    changed: dict[str, torch.Tensor]  # state_dict name -> the after tensor (CPU, the model's dtype)
    same: int  # tensors equal to the loaded model's
    total: int  # tensors compared

    @property
    def bytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.changed.values())

    def summary(self) -> str:
        if not self.changed:
            return f"no tensor differs from the loaded model ({self.total} compared): the checkpoint is the same model"
        what = f"{len(self.changed)} of {self.total} tensors differ ({self.bytes / 2**20:,.1f} MiB kept)"
        if not self.same:
            what += ": every tensor differs, so the pair holds a second copy of the model's weights"
        return what


def check_configs(before: Any, after: dict[str, Any], where: str) -> None:
    """Refuse an after checkpoint whose config names another architecture or other sizes, or whose
    weights are stored quantized (packed integers cannot be compared with the loaded weights)."""
    quant = after.get("quantization_config")
    if isinstance(quant, dict):
        raise PairError(
            f"the after checkpoint is stored quantized ({quant.get('quant_method', 'unknown method')}, {where}): its "
            "tensors are packed integers, not weights to compare. Dequantize it where it was made "
            "(model.dequantize(); save_pretrained) or give its .gguf file, which is dequantized on loading."
        )
    diffs = [
        f"{k} {getattr(before, k, None)!r} here, {after.get(k)!r} in {where}"
        for k in SAME_MODEL_FIELDS
        if k in after and getattr(before, k, None) != after.get(k)
    ]
    if diffs:
        raise PairError(
            "the after checkpoint is another model, not the loaded one changed: " + "; ".join(diffs) + ". Load its "
            "base model in Model & data first."
        )


def diff_checkpoint(model: PreTrainedModel, folder: Path) -> CheckpointDiff:
    """Compare the safetensors files in `folder` with `model`, tensor by tensor; keep what differs."""
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise PairError(
            f"{folder} has no *.safetensors weights (pickle checkpoints are not read, as for model loading): "
            "save it with save_pretrained(safe_serialization=True)."
        )
    config = folder / "config.json"
    if config.is_file():
        check_configs(model.config, json.loads(config.read_text()), config.name)
    ours = model.state_dict(keep_vars=True)  # tied weights appear under every name they are saved as
    changed: dict[str, torch.Tensor] = {}
    seen: set[str] = set()
    same = 0
    try:
        for file in files:
            with safe_open(str(file), framework="pt") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                    if name not in ours:
                        raise PairError(f"{file.name} holds {name!r}, which the loaded model has no tensor for.")
                    here = ours[name].detach()
                    after = f.get_tensor(name)
                    if tuple(after.shape) != tuple(here.shape):
                        raise PairError(
                            f"{name} is {tuple(after.shape)} in {file.name} but {tuple(here.shape)} in the loaded "
                            "model."
                        )
                    after = after.to(here.dtype)
                    seen.add(name)
                    if torch.equal(after, here.cpu()):
                        same += 1
                    else:
                        changed[name] = after
    except SafetensorError as e:
        raise PairError(f"a *.safetensors file in {folder} is damaged or not safetensors ({e}).") from e
    missing = [n for n, t in ours.items() if n not in seen and not _tied_elsewhere(n, t, ours, seen)]
    if missing:
        raise PairError(f"{len(missing)} of the loaded model's tensors are not in {folder}, e.g. {missing[0]!r}.")
    return CheckpointDiff(_canonical(model, changed, ours), same, len(seen))


def _canonical(
    model: PreTrainedModel, changed: dict[str, torch.Tensor], ours: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A tied tensor saved under both of its names (embeddings and output head) is kept once, under
    the name the model's parameters give it; a checkpoint whose two copies differ unties them, which
    the loaded model cannot hold."""
    own = {id(p): n for n, p in model.named_parameters(remove_duplicate=True)}
    own |= {id(b): n for n, b in model.named_buffers(remove_duplicate=True)}
    out: dict[str, torch.Tensor] = {}
    for name, t in changed.items():
        key = own.get(id(ours[name]), name)
        if key in out and not torch.equal(out[key], t):
            raise PairError(
                f"{name} and {key} are one tied tensor in the loaded model but differ in the checkpoint (its "
                "embeddings and output head were untied): load its base model with tie_word_embeddings off."
            )
        out[key] = t
    return out


def _tied_elsewhere(name: str, t: torch.Tensor, ours: dict[str, torch.Tensor], seen: set[str]) -> bool:
    """A tied tensor (the output head sharing the embeddings) is saved once, under one of its names."""
    return any(n != name and o.data_ptr() == t.data_ptr() for n, o in ours.items() if n in seen)
