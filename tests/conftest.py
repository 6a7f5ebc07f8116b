"""Shared fixtures: a tiny random Llama (fast, offline) and, where only a real model can tell,
the bundled SmolLM2 (converted from GGUF once, then cached)."""

from __future__ import annotations

import hashlib
import os

# Before transformers / huggingface_hub are imported (they read it once): never let a test
# wait on the network for the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from unlearn.model.models import LoadedModel, load_model
from unlearn.serve.store import STORE

# `make test` runs the suite in parallel workers (pytest-xdist, -n 2). Each worker, and every process a
# test starts, gets its share of the cores: with torch's default of one thread per core in every worker,
# OpenMP threads outnumber the cores and wait on each other (measured on 2 cores: 938 s in two workers
# against 889 s serial; one thread each: 598 s).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _WORKERS > 1:
    # the cores this process may run on (a container's cpuset), not every core of the host
    _CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    _THREADS = max(1, _CORES // _WORKERS)
    os.environ["OMP_NUM_THREADS"] = str(_THREADS)  # read by the processes tests start
    torch.set_num_threads(_THREADS)

# `UNLEARN_TEST_DEVICE=cuda pytest ...` runs the tiny-model tests on a GPU (README, GPU checks)
TEST_DEVICE = os.environ.get("UNLEARN_TEST_DEVICE", "cpu")
ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "Who wrote the Harry Potter books? J.K. Rowling wrote them.",
    "What is the capital of France? The capital of France is Paris.",
    "Harry Potter's owl is named Hedwig. Hogwarts is a school of magic.",
    "The quick brown fox jumps over the lazy dog 0123456789.",
]


def make_tiny_model(folder: Path, vocab: int = 400, seed: int = 0) -> Path:
    """A 2-layer Llama with grouped-query attention and a byte-level BPE tokenizer: a real
    architecture at toy size, so tests cover the same code paths as the bundled model."""
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok.train_from_iterator(
        CORPUS * 4,
        trainers.BpeTrainer(
            vocab_size=vocab, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token="<|im_start|>"
    )
    fast.chat_template = CHATML
    torch.manual_seed(seed)
    cfg = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
        bos_token_id=fast.bos_token_id,
    )
    LlamaForCausalLM(cfg).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def weights_digest(lm: LoadedModel) -> str:
    """A digest of the model's weights. LoRA wrappers left after a reset rename `q_proj.weight` to
    `q_proj.base_layer.weight`, so names are normalised; adapter tensors must be gone."""
    h = hashlib.sha256()
    state = lm.model.state_dict()
    assert not [n for n in state if "lora_" in n], "LoRA adapters were left on the model"
    for name in sorted(state, key=lambda n: n.replace(".base_layer", "")):
        h.update(name.replace(".base_layer", "").encode())
        h.update(state[name].detach().cpu().float().contiguous().numpy().tobytes())  # bf16: no numpy dtype
    return h.hexdigest()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny"))


@pytest.fixture
def tiny(tiny_dir: Path) -> LoadedModel:
    """A fresh tiny model per test (loading takes milliseconds), so tests may change it."""
    return load_model(str(tiny_dir), device=TEST_DEVICE)


@pytest.fixture(scope="session")
def bundled() -> LoadedModel:
    """The real bundled model, shared read-only by the tests that need a model that knows things."""
    return load_model("bundled", device="cpu")


@pytest.fixture
def cache_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point the app's cache at a temporary folder (for tests that write models)."""
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def app_tiny(tiny_dir, tmp_path, monkeypatch):
    """The tiny model as the app's shared model, runs saved in a temporary folder, no run active."""
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    STORE.replace(load_model(str(tiny_dir), device="cpu"))
    STORE.clear_run()
    yield STORE.current()
    STORE.clear_run()
