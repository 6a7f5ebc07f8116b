from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn.__main__ import main


def _last_json(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_info_prints_the_model_card_as_one_json_line(tiny_dir: Path, capsys) -> None:
    assert main(["info", "--model", str(tiny_dir), "--device", "cpu", "--json"]) == 0
    info = _last_json(capsys)
    assert {"params", "layers", "heads", "device", "dtype", "load_seconds"} <= set(info)
    assert info["layers"] == 2 and info["device"] == "cpu"


def test_datasets_lists_builtin_sets_with_sizes(capsys) -> None:
    assert main(["datasets", "--json"]) == 0
    sets = {d["name"]: d for d in _last_json(capsys)["datasets"]}
    assert sets["harry_potter"]["items"] >= 30
    assert sets["fictitious_authors"]["subsets"] == {"forget": 20, "holdout": 20, "retain": 20}


def test_a_bad_model_exits_2_with_a_message(capsys) -> None:
    assert main(["info", "--model", "./nowhere/at/all"]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.bundled
def test_any_gguf_file_loads_through_the_same_conversion(cache_tmp, monkeypatch) -> None:
    import gguf

    from unlearn.model.models import bundled_gguf_path, load_model

    parses = []
    made = gguf.GGUFReader.__init__
    monkeypatch.setattr(gguf.GGUFReader, "__init__", lambda self, *a, **k: parses.append(a) or made(self, *a, **k))
    lm = load_model(str(bundled_gguf_path()), device="cpu")
    # transformers reads the file for the tokenizer, the config and the weights: one parse (gguf_once.py)
    assert len(parses) == 1, parses
    assert lm.source.kind == "gguf" and lm.info()["layers"] == 30
    assert Path(lm.path).parent.parent == cache_tmp
