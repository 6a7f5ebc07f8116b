"""The Unlearn tab's handlers on the tiny model: run with live updates, cancel, ask both, undo."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unlearn.serve.store import STORE

from . import tabs
from .conftest import weights_digest

QUICK, LORA = list(tabs.PRESET_LABELS)[0], list(tabs.MODE_LABELS)[0]


def _run(method="grad_diff", steps=3, hp_rows=None, lr=5e-3, session="s1", options=None, request=None, **kw):
    card, rows, _ = tabs.on_method(method, QUICK)
    loop = [steps, lr, 4, 1, 128, 0, 0, 4]  # steps, lr, batch, accumulation, max length, warm-up, seed, LoRA r
    options = options or [False, 0, 1.0, "random", False]  # low memory, GU k, coreset share and mode, MELU
    stop = kw.pop("stop", [0, 0, 0])  # save every k, stop-forget share, keep-retain share (0: off)
    args = [method, QUICK, LORA, hp_rows if hp_rows is not None else rows, *loop, *options, *stop]
    request = request or SimpleNamespace()
    request.session_hash = session
    return tabs.run_ui(*args, "harry_potter:known", "general_knowledge", {}, request)


def test_a_run_streams_steps_then_a_before_after_table(app_tiny) -> None:
    updates = list(_run())
    steps = [u for u in updates if u[0].startswith("⏳ Step")]
    assert len(steps) == 3 and all(u[1] is not None for u in steps)
    msg, fig, table = updates[-1]
    assert msg.startswith("✅") and len(table) == 2 and table[0][0].startswith("forget")
    assert any(t.name == "forget" for t in fig.data), "the final curves show the probabilities"
    assert STORE.active_run() is not None


@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("ucan", None),  # training-free: one edit, reported as one step
        ("npo", [False, 2, 0.5, "keyword", False]),  # GU projection and a keyword coreset
        ("attn_shift", None),  # LoRA on q/k only
    ],
)
def test_the_newer_methods_and_options_run_from_the_tab(app_tiny, method, options) -> None:
    msg = list(_run(method, steps=2, options=options))[-1][0]
    assert msg.startswith("✅"), msg


def test_an_option_no_run_can_honour_gets_a_message_not_a_crash(app_tiny) -> None:
    msg = list(_run("blur", options=[False, 2, 1.0, "random", False]))[-1][0]
    assert msg.startswith("❌") and "already combines" in msg


def test_ask_both_answers_from_before_and_after(app_tiny) -> None:
    list(_run())
    before, after = list(tabs.ask_both_ui("Who wrote the Harry Potter books?", 8))[-1]  # streamed: last = both
    assert isinstance(before, str) and isinstance(after, str)
    assert "Type a question" in list(tabs.ask_both_ui(" ", 8))[-1][0]


def test_undo_restores_the_model_as_loaded(app_tiny) -> None:
    from unlearn.data.builtin import load_selection
    from unlearn.model.scoring import answer_nll

    exs = load_selection("harry_potter:known").examples
    nll0 = answer_nll(app_tiny.model, app_tiny.tokenizer, exs)
    list(_run())
    assert not (answer_nll(app_tiny.model, app_tiny.tokenizer, exs) == nll0).all()
    tabs.reset_ui()
    assert (answer_nll(app_tiny.model, app_tiny.tokenizer, exs) == nll0).all() and STORE.active_run() is None


@pytest.mark.parametrize(
    ("hp_value", "lr", "steps", "match"),
    [
        ("abc", 5e-3, 3, "not a valid float"),
        ("1.0", -1.0, 3, "learning rate"),
        ("1.0", 5e-3, 0, "steps"),
        ("nan", 5e-3, 3, "finite"),
    ],
)
def test_bad_settings_get_a_message_and_change_nothing(app_tiny, hp_value, lr, steps, match) -> None:
    _, rows, _ = tabs.on_method("grad_diff", QUICK)
    rows[0][1] = hp_value
    if steps == 0:
        # zero steps with epochs is a valid "use epochs" setting; a negative count is not
        steps = -1
    updates = list(_run(hp_rows=rows, lr=lr, steps=steps))
    assert len(updates) == 1 and updates[0][0].startswith("❌") and match in updates[0][0]
    assert STORE.active_run() is None


def test_cancel_stops_between_steps_and_saves_a_cancelled_run(app_tiny) -> None:
    """The documented state after Cancel: the model is exactly the saved partial run (no step
    half-applied, none applied after the save), marked cancelled, and Undo gives the model as loaded."""
    from unlearn.train.runs import read_history

    loaded = weights_digest(app_tiny)
    gen = _run(steps=100_000, session="cancel-me")  # far more than can finish before the Cancel
    seen = []
    for msg, *_ in gen:
        seen.append(msg)
        if msg.startswith("⏳ Step 2"):
            assert "Cancelling" in tabs.cancel_ui(SimpleNamespace(session_hash="cancel-me"))
    run = STORE.active_run()
    assert seen[-1].startswith("⚠️ cancelled") and run.record["status"] == "cancelled"
    saved = json.loads((Path(run.run_dir) / "run.json").read_text())
    assert saved["status"] == "cancelled" and 2 <= saved["steps"] < 100_000
    assert len(read_history(Path(run.run_dir))) == saved["steps"]
    assert "Nothing is running" in tabs.cancel_ui(SimpleNamespace(session_hash="cancel-me"))
    assert threading.active_count() < 50
    with STORE.lock:
        after = {n: p.detach().clone() for n, p in app_tiny.model.named_parameters() if "lora_" in n}
    assert after and any(t.abs().sum() > 0 for t in after.values()), "the steps taken before the cancel are kept"
    tabs.reset_ui()
    assert weights_digest(app_tiny) == loaded, "Undo gives the model as loaded, bit for bit"
    assert tabs.load_run_ui(str(run.run_dir)).startswith("✅")
    again = {n: p for n, p in app_tiny.model.named_parameters() if "lora_" in n}
    assert after.keys() == again.keys() and all(torch.equal(after[n], again[n]) for n in after), (
        "the model after Cancel is exactly the saved partial run"
    )


def test_saved_runs_reload_onto_the_model_and_can_be_deleted(app_tiny) -> None:
    from unlearn.data.builtin import load_selection
    from unlearn.model.scoring import answer_nll

    exs = load_selection("harry_potter:known").examples
    list(_run())
    after = answer_nll(app_tiny.model, app_tiny.tokenizer, exs)
    choices = tabs.run_choices()
    assert len(choices) == 1 and "finished" in choices[0][0]
    tabs.reset_ui()
    msg = tabs.load_run_ui(choices[0][1])
    assert msg.startswith("✅") and STORE.active_run() is not None
    assert abs(answer_nll(app_tiny.model, app_tiny.tokenizer, exs) - after).max() < 1e-5
    msg, _ = tabs.delete_run_ui(choices[0][1])
    assert "Deleted" in msg and tabs.run_choices() == [] and STORE.active_run() is None
    assert tabs.load_run_ui(None).startswith("❌")
