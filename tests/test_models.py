from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from unlearn.model.devices import default_dtype, resolve_device
from unlearn.model.models import ModelLoadError, load_model, parse_source


def test_parse_source_tells_kinds_apart(tmp_path: Path) -> None:
    assert parse_source("").kind == "bundled"
    assert parse_source("org/model-1.5").kind == "hub"
    assert parse_source(str(tmp_path)).kind == "local"
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert parse_source(str(tmp_path / "m.gguf")).kind == "gguf"


@pytest.mark.parametrize("ref", ["./no/such/folder", "not a model", "/missing/file.gguf"])
def test_unknown_reference_gets_a_message_that_lists_what_works(ref: str) -> None:
    with pytest.raises(ModelLoadError, match="bundled|GGUF file not found"):
        parse_source(ref)


def test_local_folder_loads_with_a_fused_kernel_fp32_on_cpu(tiny_dir: Path) -> None:
    lm = load_model(str(tiny_dir), device="cpu")
    info = lm.info()
    assert info["layers"] == 2 and info["heads"] == 4 and info["kv_heads"] == 2
    # SDPA (issue 17): the probe switches to eager for the maps (tests/test_kernels.py)
    assert info["attention"] == "sdpa" and info["dtype"] == "float32" and info["device"] == "cpu"
    assert info["params"] == sum(p.numel() for p in lm.model.parameters()) > 0


def test_folder_with_only_a_pickle_checkpoint_is_refused(tmp_path: Path, tiny_dir: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    torch.save({"w": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="pickle"):
        load_model(str(tmp_path), device="cpu")


def test_folder_without_weights_is_refused(tmp_path: Path, tiny_dir: Path) -> None:
    (tmp_path / "config.json").write_text((tiny_dir / "config.json").read_text())
    with pytest.raises(ModelLoadError, match="no \\*.safetensors"):
        load_model(str(tmp_path), device="cpu")


def test_folder_without_config_is_refused(tmp_path: Path) -> None:
    save_file({"w": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="config.json"):
        load_model(str(tmp_path), device="cpu")


def test_hub_id_offline_says_so_and_suggests_a_local_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="local folder|save_pretrained"):
        load_model("nobody-here/no-such-model-xyz", device="cpu")


def test_device_choice_and_dtype() -> None:
    assert resolve_device("cpu").type == "cpu"
    assert default_dtype(torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="choose one of"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            resolve_device("cuda")


@pytest.mark.bundled
def test_bundled_model_has_about_134_5_million_parameters(bundled) -> None:
    info = bundled.info()
    assert abs(info["params"] - 134.5e6) < 0.1e6
    assert info["layers"] == 30 and info["heads"] == 9 and info["kv_heads"] == 3


@pytest.mark.bundled
def test_bundled_model_second_load_comes_from_the_safetensors_cache(bundled) -> None:
    again = load_model("bundled", device="cpu")
    # generous bound: the cached load takes well under a second here; converting takes ~20 s
    assert again.load_seconds < 10
    assert Path(again.path, "model.safetensors").is_file()
