"""The app's handlers, called as Gradio calls them, on the tiny model; and the page in Chromium."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import app
from unlearn.model.models import load_model
from unlearn.serve.store import STORE

from . import tabs
from .browser import CHROMIUM, app_in_browser, browser_page, run_default_method, running_app


def require_chromium() -> None:
    """Skip without a browser, except in CI (REQUIRE_BROWSER=1), where a missing browser fails."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"{CHROMIUM} is missing: install the Debian packages chromium and chromium-driver")
        pytest.skip(f"{CHROMIUM} is not installed")


@pytest.fixture
def loaded(tiny_dir: Path):
    STORE.replace(load_model(str(tiny_dir), device="cpu"))
    yield STORE.current()


def _progress(*a, **k) -> None:
    return None


def test_demo_builds_with_stable_api_names() -> None:
    demo = app.build_demo()
    names = {d.get("api_name") for d in demo.config["dependencies"]}
    assert {"load_model", "preview", "check_knowledge", "save_edits", "add_upload", "load_hub", "teach", "ask"} <= names
    compare_panels = {
        "compare",
        "compare_tokens",
        "compare_topk",
        "compare_lens",
        "compare_head",
        "compare_attribution",
        "compare_patching",
    }
    assert compare_panels | {"compare_items", "run", "cancel", "ask_both", "load_run"} <= names
    audit_and_runs = {"audit", "audit_cancel", "audit_show", "audit_item", "runs", "open_run", "runs_delete"}
    assert audit_and_runs | {"export_run", "run_steps", "side_items", "side_by_side"} <= names
    assert {f"guide_{s}" for s in ("knows", "unlearn", "changed", "token", "layer", "audit")} <= names


def test_loading_a_bad_model_keeps_the_previous_one(loaded) -> None:
    card, msg = tabs.load_model_ui("Local folder (save_pretrained)", "/no/such/folder", "cpu", False, _progress)
    assert msg.startswith("❌") and "still in use" in msg
    assert STORE.current() is loaded and "tiny" in card or loaded.name in card


def test_loading_a_local_folder_updates_the_card(loaded, tiny_dir) -> None:
    card, msg = tabs.load_model_ui("Local folder (save_pretrained)", str(tiny_dir), "cpu", False, _progress)
    assert msg.startswith("✅") and "2 × 4" in card


def test_set_status_says_whose_knowledge_each_set_is(loaded) -> None:
    text = tabs.set_status("harry_potter", "general_knowledge:train", "fictitious_authors:holdout", {})
    assert "own knowledge" in text and "never-seen" in text
    text = tabs.set_status("fictitious_authors:forget", "fictitious_authors:retain", tabs.NONE, {})
    assert "Teach" in text


def test_preview_and_check_knowledge(loaded) -> None:
    table, caption, plot = tabs.preview("forget", "harry_potter", "general_knowledge:train", tabs.NONE, {})
    assert len(table["value"]) >= 30 and "harry_potter" in caption and "recorded with" in caption
    assert len(plot.data[0].y) == len(table["value"])
    table, fig, msg = tabs.check_knowledge_ui(
        "retain", "harry_potter", "general_knowledge:eval", tabs.NONE, {}, _progress
    )
    assert "answers" in msg and len(fig.data[0].y) == len(table["value"])


def test_upload_tofu_file_is_recognised_and_selected(loaded, tmp_path) -> None:
    src = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tofu" / "world_facts_perturbed.json"
    if not src.is_file():
        pytest.skip("shared/data/tofu is not beside the repository")
    path = tmp_path / src.name
    shutil.copy(src, path)
    q, a, t, msg = tabs.inspect_upload(str(path), "auto")
    # what was recognised is said in words (issue 15), not as a bare "tofu layout"
    assert "question and answer columns" in msg and "perturbed" in msg and q["value"] == "question"
    sets, f, r, h, msg = tabs.add_upload(str(path), "auto", "", "question", "answer", tabs.NONE, {}, "forget")
    assert msg.startswith("✅") and f["value"] in sets and len(sets[f["value"]]["examples"]) == 117


def test_broken_upload_gets_a_message_and_loses_nothing(loaded, tmp_path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{"question": oops}\n')
    earlier = {
        "mine": {
            "title": "m",
            "knowledge": "uploaded",
            "description": "",
            "examples": [{"question": "q", "answer": "a"}],
        }
    }
    sets, *_, msg = tabs.add_upload(str(bad), "auto", "", tabs.NONE, tabs.NONE, tabs.NONE, earlier, "forget")
    assert msg.startswith("❌") and "line 2" in msg and sets == earlier


def test_edits_become_a_new_selected_set(loaded) -> None:
    rows = [["Who is Ada?", "Ada is a test.", "Ada", "", ""]]
    sets, f, r, h, msg = tabs.save_edits("forget", rows, "harry_potter", "general_knowledge:train", tabs.NONE, {})
    assert (
        msg.startswith("✅")
        and f["value"] == "harry_potter (edited)"
        and len(sets["harry_potter (edited)"]["examples"]) == 1
    )


def test_hub_offline_gives_a_clear_message(loaded, monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    sets, *_, msg = tabs.load_hub_ui("locuslab/TOFU", "forget01", "train", 10, {}, "forget", _progress)
    assert msg.startswith("❌") and "hub" in msg and sets == {}


def test_teach_and_ask(loaded, cache_tmp) -> None:
    card, msg = tabs.teach_ui("fictitious_authors:forget", tabs.NONE, 1, {}, _progress)
    assert msg.startswith("✅") and "Taught" in card
    assert isinstance(list(tabs.ask_ui("Who is Ilse?", 8))[-1], str)  # streamed: the last value is the answer
    assert "Type a question" in list(tabs.ask_ui("  ", 8))[-1]


@pytest.mark.browser
def test_model_and_data_tab_in_headless_chromium(tiny_dir, tmp_path) -> None:
    require_chromium()
    errors: list[str] = []
    with running_app(str(tiny_dir), env={"UNLEARN_CACHE_DIR": str(tmp_path)}) as url, browser_page() as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_selector("#model-card table", timeout=60_000)
        assert "2 × 4" in page.inner_text("#model-card")
        page.locator("#set-table").get_by_text("Who wrote the Harry Potter books?").first.wait_for(timeout=60_000)
        assert "own knowledge" in page.inner_text("#set-status")
        page.get_by_label("Question", exact=True).fill("Who wrote the Harry Potter books?")
        page.get_by_role("button", name="Ask", exact=True).click()
        answer = page.get_by_label("Answer (greedy)")
        page.wait_for_function("(el) => el.value.length > 0", arg=answer.element_handle(), timeout=60_000)
        page.screenshot(path=str(tmp_path / "model_tab.png"), full_page=True)
    assert not errors, json.dumps(errors)


@pytest.mark.browser
def test_unlearn_tab_runs_in_headless_chromium(tiny_dir, tmp_path) -> None:
    require_chromium()
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        page.get_by_role("tab", name="Unlearn").click()
        assert "faithful" in page.inner_text("#method-card")
        run_default_method(page, timeout=120_000)
        assert "forget: harry_potter" in page.inner_text("#before-after")
        page.screenshot(path=str(tmp_path / "unlearn_tab.png"), full_page=True)
    assert not errors, json.dumps(errors)
    assert any((tmp_path / "runs").iterdir()), "the run was saved"


def test_each_preset_control_drives_its_own_handler() -> None:
    """The hub Preset dropdown and the Unlearn tab's Defaults radio once shared a variable name, so the
    radio fired the hub handler (a KeyError) and the dropdown did nothing."""
    demo = app.build_demo()
    labels = {c["id"]: c.get("props", {}).get("label") for c in demo.config["components"]}
    triggers: dict[str, set[str]] = {}
    for dep in demo.config["dependencies"]:
        name = demo.fns[dep["id"]].fn.__name__
        triggers.setdefault(name, set()).update(labels.get(t[0]) for t in dep["targets"])
    assert triggers["on_preset"] == {"Preset"}
    assert "Defaults" in triggers["on_method"] and "Preset" not in triggers["on_method"]


def test_the_long_runs_and_compare_show_one_spinner_on_their_status_line() -> None:
    """A run's and an audit's progress overlay (the Guided demo's too) sits on their status line only,
    not over the plots they redraw as they go: in headless Chromium on 2 cores the overlays over the
    live curves and the table cost 97 s of browser CPU in a 174 s quick demo (114 s with one spinner)."""
    demo = app.build_demo()
    for d in demo.config["dependencies"]:
        if d.get("api_name") in ("run", "audit", "guide_unlearn", "guide_audit"):
            assert len(d["outputs"]) > 1 and d["show_progress_on"] == d["outputs"][:1], d["api_name"]
    # the Compare tab's three buttons too, on their notes: a press after a LoRA run in headless Chromium on
    # 2 cores took 9.0-9.2 s with one spinner against 11.2-11.8 s with an overlay over each of 15 outputs
    ones = {d["api_name"]: d for d in demo.config["dependencies"] if d.get("api_name", "").startswith("compare")}
    for name in ("compare", "compare_attribution", "compare_patching"):
        d = ones[name]
        assert len(d["outputs"]) > 1 and len(d["show_progress_on"]) == 1, name
        assert d["show_progress_on"][0] in d["outputs"], name
