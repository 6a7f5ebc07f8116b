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


def test_a_run_card_says_what_the_run_was_and_what_its_audit_found() -> None:
    from viz.runs import run_card

    record = {
        "id": "20261201-090059-npo",
        "method": "npo",
        "model": {"name": "SmolLM2-135M-Instruct"},
        "trainable": "lora",
        "sets": {"forget": "harry_potter", "retain": "general_knowledge"},
        "status": "finished",
        "steps": 8,
        "seconds": 88.5,
        "created": "2026-12-01T09:00:59",
        "metrics": {"forget_prob_before": 0.1493, "forget_prob_after": 0.0005, "retain_prob_before": 0.476},
        "spec": {"lora_r": 8, "loop": {"lr": 5e-5}},
        "hparams": {"beta": 0.1},
    }
    card = run_card(record, None)
    assert card.startswith("**20261201-090059-npo**: npo on SmolLM2-135M-Instruct (lora), forget **harry_potter**")
    assert "forget P̃ 0.149 → 0.001; retain P̃ 0.476 → —" in card  # a figure the run lacks: a dash
    assert "Settings: lora_r 8, beta 0.1." in card and "Not audited yet" in card
    audit = {
        "created": "2026-12-01T10:00",
        "labels": ["forget", "forget", "holdout"],
        "verdicts": ["looks forgotten", "residual memorisation", "never seen"],
        "summary": {"items": {"forget": 2, "holdout": 1}, "remind_auc": 0.75, "loss_auc_after": 0.5},
    }
    audit["summary"] |= {"retain_utility_before": 0.5, "retain_utility_after": 0.4, "utility_parts": []}
    card = run_card(record, audit)
    assert "Audit (2026-12-01T10:00): Forget vs holdout ROC-AUC" in card and "REMIND 0.75" in card
    assert "Retain utility 0.500 → 0.400" in card
