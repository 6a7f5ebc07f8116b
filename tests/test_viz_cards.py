from __future__ import annotations

import pytest

from viz.cards import knowledge_line, model_card
from viz.sets import knowledge_bars

INFO = {
    "name": "tiny",
    "source": "local",
    "params": 1234,
    "layers": 2,
    "heads": 4,
    "kv_heads": 2,
    "hidden_size": 32,
    "vocab_size": 400,
    "device": "cpu",
    "dtype": "float32",
    "attention": "eager",
    "load_seconds": 0.01,
}


def test_model_card_lists_shape_device_and_grouped_query_attention() -> None:
    card = model_card(INFO)
    for text in ("tiny", "1.2 K", "2 × 4", "2 key/value heads", "cpu, float32", "0.01 s"):
        assert text in card
    assert "No model loaded" in model_card(None)
    taught = model_card({**INFO, "taught": {"set": "fa", "items": 40, "epochs": 10.0, "lr": 1e-4}})
    assert "fa (40 items, 10 epochs" in taught


def test_knowledge_line_shows_warnings() -> None:
    assert "⚠️ teach it" in knowledge_line("forget", "x", 3, "taught", "teach it")


def test_knowledge_bars_sorted_and_coloured_by_correctness() -> None:
    fig = knowledge_bars(["a", "b", "c"], [0.2, 0.9, 0.5], [False, True, True], "set")
    bar = fig.data[0]
    assert list(bar.y) == [0.9, 0.5, 0.2]
    assert bar.marker.color[0] != bar.marker.color[2]
    assert "2 of 3" in fig.layout.title.text
    with pytest.raises(ValueError):
        knowledge_bars(["a"], [0.1, 0.2], [True], "bad")


def test_an_edit_run_shows_its_statistics_as_bars_not_loss_curves() -> None:
    from viz.curves import run_curves

    row = {"step": 1, "lr": 0.0, "seconds": 8.0, "neurons_damped": 4371.0, "neurons_total": 46080.0}
    fig = run_curves([{**row, "forget_prob": 0.03, "retain_prob": 0.43}], "U-CAN")
    bars = [t for t in fig.data if t.type == "bar"]
    assert len(bars) == 1 and list(bars[0].x) == ["neurons_damped", "neurons_total"]
    assert fig.layout.annotations[0].text.startswith("what the edit reported")
    trained = run_curves([{"step": 1, "lr": 1e-3, "npo": 1.0}, {"step": 2, "lr": 1e-3, "npo": 0.5}])
    assert not [t for t in trained.data if t.type == "bar"]  # a training run keeps its loss curves
