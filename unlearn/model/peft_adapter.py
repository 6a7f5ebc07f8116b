"""PEFT LoRA adapter folders, in and out (issue 16).

In: a reviewer's unlearned adapter (`adapter_config.json` + `adapter_model.safetensors`) is put on the
loaded model under the app's adapter name, its tensors are read back under the names a LoRA run made
here stores, and the adapter is taken off again. The pair then holds the adapter only: adapters off
is "before", so no second copy of the base weights exists anywhere.

Out: a LoRA run's adapter written as a PEFT folder, loadable by `PeftModel.from_pretrained` with no
code of this project.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from safetensors import SafetensorError, safe_open
from transformers import PreTrainedModel

from unlearn.model.checkpoint_diff import PairError
from unlearn.train.params import ADAPTER

CONFIG_FILE, WEIGHTS_FILE = "adapter_config.json", "adapter_model.safetensors"


def is_adapter(folder: Path) -> bool:
    return (Path(folder) / CONFIG_FILE).is_file()


def adapter_config(folder: Path) -> dict[str, Any]:
    """The folder's adapter config as saved; only LoRA adapters are taken (the app's runs are LoRA)."""
    try:
        config = json.loads((Path(folder) / CONFIG_FILE).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise PairError(f"{folder}/{CONFIG_FILE} could not be read as JSON ({e}).") from e
    kind = config.get("peft_type") if isinstance(config, dict) else None
    if kind != "LORA":
        raise PairError(
            f"{folder} holds a {kind or 'unknown'} adapter; only LoRA adapters (peft_type LORA) can be paired. "
            "Merge it into the base model (merge_and_unload, save_pretrained) and import the merged folder."
        )
    if not (Path(folder) / WEIGHTS_FILE).is_file():
        raise PairError(f"{folder} has {CONFIG_FILE} but no {WEIGHTS_FILE} (pickle adapters are not read).")
    return config


def config_from(saved: dict[str, Any]) -> LoraConfig:
    """A LoraConfig from the dict a run record keeps (the adapter_config.json it came from)."""
    cfg = LoraConfig.from_peft_type(**saved)
    assert isinstance(cfg, LoraConfig)
    return cfg


def _stored_count(folder: Path) -> int:
    try:
        with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="pt") as f:
            return len(list(f.keys()))
    except SafetensorError as e:
        raise PairError(f"{folder}/{WEIGHTS_FILE} is damaged or not safetensors ({e}).") from e


def read_adapter(model: PreTrainedModel, folder: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """(the adapter's config, its tensors by the names the app's LoRA runs use), read by putting the
    adapter on `model` and taking it off again; `model` must carry no adapter of the app's own."""
    folder = Path(folder)
    config = adapter_config(folder)
    expected = _stored_count(folder)
    try:
        model.load_adapter(str(folder), adapter_name=ADAPTER)
    except (ValueError, RuntimeError, KeyError, OSError, TypeError) as e:
        _drop(model)
        raise PairError(
            f"the adapter in {folder} does not fit the loaded model ({type(e).__name__}: {str(e)[:300]}). "
            f"It was trained on {config.get('base_model_name_or_path') or 'another model'}: load that model first."
        ) from e
    try:
        tensors = {n: p.detach().to("cpu", copy=True) for n, p in model.named_parameters() if "lora_" in n}
    finally:
        _drop(model)
    if len(tensors) != expected:  # transformers only warns about adapter tensors it found no place for
        raise PairError(
            f"only {len(tensors)} of the {expected} tensors in {folder}/{WEIGHTS_FILE} fit the loaded model: the "
            f"adapter was trained on {config.get('base_model_name_or_path') or 'another model'}; load that model first."
        )
    return config, tensors


def _drop(model: PreTrainedModel) -> None:
    if ADAPTER in (getattr(model, "peft_config", None) or {}):
        model.delete_adapter(ADAPTER)


def write_adapter(model: PreTrainedModel, out: Path, base: str) -> None:
    """The app's adapter on `model` (a LoRA run put on it) as a PEFT folder naming `base` as its base model."""
    model.peft_config[ADAPTER].base_model_name_or_path = base
    model.save_pretrained(str(out))  # transformers writes adapters in PEFT's own format and names


def load_merged(folder: Path, device: str | None = None, progress: Any = None) -> Any:
    """A PEFT LoRA adapter folder loaded as a model of its own: its base model (named in its config)
    with the adapter merged in, so it serves wherever a model does (the retain-only model of an
    audit, the model of Model & data). Raises ModelLoadError with what to do."""
    from peft import PeftModel

    from unlearn.model.models import ModelLoadError, ModelSource, load_model

    folder = Path(folder).resolve()
    try:
        config = adapter_config(folder)
    except PairError as e:
        raise ModelLoadError(str(e)) from e
    base = config.get("base_model_name_or_path")
    if not base:
        raise ModelLoadError(
            f"{folder} is a PEFT adapter that names no base model (base_model_name_or_path): load its base model, "
            "then import the adapter as a pair (Runs tab, or python -m unlearn import --after FOLDER)."
        )
    lm = load_model(str(base), device=device, progress=progress)
    try:
        lm.model = PeftModel.from_pretrained(lm.model, str(folder)).merge_and_unload()
    except (ValueError, RuntimeError, KeyError, OSError, TypeError) as e:
        raise ModelLoadError(f"the adapter in {folder} does not fit its base model {base} ({e}).") from e
    lm.model.eval()
    lm.name, lm.source = f"{folder.name} (merged into {lm.name})", ModelSource("local", str(folder))
    return lm
