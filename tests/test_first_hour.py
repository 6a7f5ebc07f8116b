"""Issue 15, a new user's first hour: each thing that misled or blocked, as a test.

Plain question-answer files (tests/data/solar_system.jsonl: 16 facts, general_facts.jsonl: 20) with no
keywords column, as a teacher would bring them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ui.audit_tab.handlers import progress_line
from unlearn.data import workspace as ws
from unlearn.data.builtin import DataSet
from unlearn.data.examples import Example
from unlearn.data.keywords import derive_keywords, keywords_for, mark_keyword
from unlearn.data.knowledge import check_examples, with_checks
from unlearn.model.models import load_model
from unlearn.serve.store import STORE
from unlearn.train.run_verdict import RETAIN_KEPT, retain_weight, run_warnings
from viz.audit_text import items_line, summary_lines
from viz.tokens import topk_bars

from . import tabs

DATA = Path(__file__).parent / "data"
SOLAR = DATA / "solar_system.jsonl"


def _solar() -> list[Example]:
    return [Example(**json.loads(line)) for line in SOLAR.read_text().splitlines()]


@pytest.fixture
def loaded(tiny_dir: Path):
    STORE.replace(load_model(str(tiny_dir), device="cpu"))
    yield STORE.current()


# ---------------------------------------------------------------- what the model knows
def test_keywords_are_the_answers_names_and_numbers_not_in_the_question() -> None:
    got = {e.question: derive_keywords(e.question, e.answer) for e in _solar()}
    assert got["Which planet is known as the Red Planet?"] == ["Mars"]
    assert got["What is the name of Earth's natural satellite?"] == ["Moon"]
    assert got["How many planets are in our solar system?"] == ["eight"]
    assert got["Where is the asteroid belt?"] == ["Mars", "Jupiter"]
    assert all(got.values()), "every plain fact gets at least one keyword"
    assert derive_keywords("Who wrote Hamlet?", "Shakespeare.") == ["Shakespeare"]
    # an item with keywords of its own keeps them; one with nothing to derive falls back to the answer
    assert keywords_for(Example("Q?", "A long answer", keywords=["mine"])) == ["mine"]
    assert keywords_for(Example("What is it?", "it is")) == ["it is"]


def test_the_matched_keyword_is_marked_and_a_reply_cannot_inject_markup() -> None:
    hit, shown = mark_keyword("I believe it is MARS, the red one.", ["Jupiter", "Mars"])
    assert hit == "MARS" and shown == "I believe it is **MARS**, the red one."
    hit, shown = mark_keyword("<img src=x onerror=alert(1)> *bold* [link](x)", ["Mars"])
    assert hit is None and "<" not in shown.replace("\\<", "") and "\\*bold\\*" in shown and "\\[link\\]" in shown
    assert mark_keyword("Marseille", ["Mars"])[0] is None  # whole words only, as the check itself


@pytest.mark.bundled
def test_the_bundled_model_knows_plain_facts_and_the_table_shows_its_replies(bundled) -> None:
    """0 of 16 before the fix (the whole gold sentence was required in the reply)."""
    items = _solar()
    seen: list[tuple[float, str]] = []
    checks = check_examples(bundled, items, progress=lambda f, m: seen.append((f, m)))
    known = sum(c.correct for c in checks)
    assert known >= 6, [c.generation for c in checks]
    red = next(c for e, c in zip(items, checks, strict=True) if "Red Planet" in e.question)
    assert red.correct and red.matched == "Mars"
    assert seen and seen[-1][1].startswith("16 of 16 questions answered")  # progress counts items
    rows = ws.table(DataSet("solar", "", "uploaded", "", with_checks(items, checks, bundled.name)))
    header = ws.TABLE_HEADERS
    red_row = next(r for r in rows if "Red Planet" in r[0])
    reply = red_row[header.index("greedy reply (keyword in bold)")]
    assert "**Mars**" in reply and red_row[header.index("known")] == "yes"
    assert 0 < red_row[header.index("P(answer)")] < 1
    assert len(ws.TABLE_TYPES) == len(header)


def test_check_knowledge_handler_reports_derived_keywords(loaded) -> None:
    user = {"facts": {"title": "f", "knowledge": "uploaded", "description": "", "examples": []}}
    user["facts"]["examples"] = [e.to_dict() for e in _solar()[:4]]  # keywords not derived (an older session)
    table, fig, msg = tabs.check_knowledge_ui("forget", "facts", "general_knowledge", tabs.NONE, user, _no_progress)
    assert "of 4" in msg and "4 items have no keywords" in msg and fig is not None
    assert len(table["value"][0]) == len(ws.TABLE_HEADERS)


def _no_progress(*a, **k) -> None:
    return None


# ---------------------------------------------------------------- uploads
def test_second_upload_is_cleared_refused_as_a_copy_and_an_empty_add_says_so(loaded, tmp_path) -> None:
    path = tmp_path / "solar_system.jsonl"
    shutil.copy(SOLAR, path)
    q, a, t, note = tabs.inspect_upload(str(path), "auto")
    assert "question and answer columns" in note and "tofu" not in note.lower() and q["value"] == "question"
    sets, f, r, h, msg = tabs.add_upload(str(path), "auto", "", q["value"], a["value"], t["value"], {}, "forget")
    assert msg.startswith("✅") and "question and answer columns" in msg and "16 items came without keywords" in msg
    name = f["value"]
    assert sets[name]["examples"][0]["keywords"] == ["Mars"]  # derived, shown and editable in the table
    assert tabs.after_add(msg) == {"value": None, "__type__": "update"}  # the box is emptied
    again, f2, *_, msg2 = tabs.add_upload(str(path), "auto", "", q["value"], a["value"], t["value"], sets, "retain")
    assert msg2.startswith("ℹ️") and f"already added as **{name}**" in msg2 and again == sets
    retain_pick = _[0]
    assert retain_pick["value"] == name  # the earlier set is picked in the asked role instead of a copy
    *_, msg3 = tabs.add_upload(None, "auto", "", q["value"], a["value"], t["value"], sets, "forget")
    assert msg3.startswith("❌") and "No new file" in msg3
    # clearing the box (as after_add does) keeps the message about the file just added: no new text
    assert not isinstance(tabs.inspect_upload(None, "auto")[3], str)


def test_a_refused_file_message_names_the_file_and_the_attempt(loaded, tmp_path) -> None:
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"question": "a", "answer": "b"}\n{"question": oops}\n')
    q, a, t, note = tabs.inspect_upload(str(bad), "auto")
    assert note.startswith("❌") and "broken.jsonl, tried at" in note
    reset = {"choices": [tabs.NONE], "value": tabs.NONE, "__type__": "update"}
    assert q == a == t == reset  # all three pickers reset, visibly (value None left the old column shown)
    *_, msg = tabs.add_upload(str(bad), "auto", "", "question", "answer", tabs.NONE, {}, "forget")
    assert msg.startswith("❌") and "broken.jsonl, tried at" in msg


# ---------------------------------------------------------------- holdout
def test_split_holdout_is_seeded_disjoint_and_keeps_entities_together() -> None:
    items = [Example(f"Q{i}?", f"A{i}", entity=f"author{i // 3}") for i in range(12)]
    ds = DataSet("authors", "", "uploaded", "", items)
    rest, held = ws.split_holdout(ds, 0.25)
    again = ws.split_holdout(ds, 0.25)[1]
    assert (rest.name, held.name) == ("authors:forget", "authors:holdout")
    assert [e.question for e in held.examples] == [e.question for e in again.examples]  # seeded
    assert {e.question for e in rest.examples}.isdisjoint(e.question for e in held.examples)
    assert len(rest) + len(held) == 12 and len(held) == 3
    assert {e.entity for e in rest.examples}.isdisjoint(e.entity for e in held.examples)
    with pytest.raises(ValueError, match="too few"):
        ws.split_holdout(DataSet("tiny", "", "uploaded", "", items[:3]), 0.25)


def test_split_holdout_button_picks_both_parts_of_one_source(loaded, tmp_path) -> None:
    path = tmp_path / "solar_system.jsonl"
    shutil.copy(SOLAR, path)
    sets, f, *_ = tabs.add_upload(str(path), "auto", "", "question", "answer", tabs.NONE, {}, "forget")
    sets2, f2, r2, h2, msg = tabs.split_holdout_ui(f["value"], 0.25, sets)
    assert msg.startswith("✅") and f2["value"] == "solar_system:forget" and h2["value"] == "solar_system:holdout"
    assert len(sets2["solar_system:holdout"]["examples"]) == 4 and len(sets2["solar_system:forget"]["examples"]) == 12
    line = tabs.audit_sets_line(f2["value"], "general_knowledge", h2["value"])
    assert "solar_system:holdout" in line and "⚠️" not in line  # one source: no warning
    none = tabs.audit_sets_line(f2["value"], "general_knowledge", tabs.NONE)
    assert "Split a holdout" in none
    bad = tabs.split_holdout_ui("nope", 0.25, sets)
    assert bad[-1].startswith("❌") and bad[0] == sets


def test_audit_without_holdout_does_not_recommend_another_topic(loaded) -> None:
    from types import SimpleNamespace

    out = next(
        tabs.audit_ui(
            tabs.ACTIVE,
            4,
            2,
            0.3,
            5,
            0,
            False,
            0,
            0,
            [],
            "",
            "harry_potter",
            "general_knowledge",
            tabs.NONE,
            {},
            SimpleNamespace(session_hash="h"),
        )
    )
    assert out[0].startswith("❌") and "same source" in out[0] and "fictitious_authors" not in out[0]


# ---------------------------------------------------------------- run result, top-k, audit items
def test_retain_damage_and_a_forget_that_barely_moved_are_flagged() -> None:
    m = {"forget_prob_before": 0.3, "forget_prob_after": 0.001, "retain_prob_before": 0.4, "retain_prob_after": 0.288}
    (line,) = run_warnings(m, has_retain=True, retain_weight="alpha", stop_rule=False)
    assert "72% of before" in line and "fewer steps" in line and "stop rule" in line and "alpha" in line
    (line,) = run_warnings(m, True, None, stop_rule=True)
    assert "stop rule" not in line and "a method with a retain term" in line
    kept = {**m, "retain_prob_after": 0.4 * RETAIN_KEPT + 0.001}
    assert run_warnings(kept, True, "alpha", False) == []
    lazy = {**kept, "forget_prob_after": 0.29}
    (line,) = run_warnings(lazy, True, "alpha", False)
    assert "barely moved (97% of before)" in line
    assert "No retain set" in run_warnings(kept, False, "alpha", False)[0]
    assert retain_weight("npo") == "alpha" and retain_weight("ga") is None


def test_topk_gives_the_gold_tokens_rank_when_it_is_not_shown() -> None:
    before = ([" Row", " J"], np.array([0.7, 0.2]))
    after = ([" J", " I"], np.array([0.5, 0.3]))
    title = topk_bars("Who wrote it?", " Row", before, after, ((1, 0.7), (12, 0.0042))).layout.title.text
    assert "after, not in the top 2: rank 12, p = 0.0042" in title and "in green where shown" in title
    both = topk_bars("Who?", " X", after, after, ((7, 0.01), (9, 0.001))).layout.title.text
    assert "before, not in the top 2: rank 7" in both and "green" not in both
    shown = topk_bars("Who?", " J", before, after, ((2, 0.2), (1, 0.5))).layout.title.text
    assert "in green" in shown and "not in the top" not in shown


def test_an_audit_on_fewer_items_than_asked_says_so_with_the_figures() -> None:
    rec = {"config": {"items_per_split": 6}, "summary": {"items": {"forget": 3, "holdout": 3, "retain": 6}}}
    want = "ℹ️ Asked for 6 items per split; scored forget 3, holdout 3 (the sets hold no more), retain 6."
    assert items_line(rec) == want
    rec["summary"]["items"] = {"forget": 6, "holdout": 6}
    assert items_line(rec) is None
    assert summary_lines.__doc__ and "fewer than asked" in summary_lines.__doc__


# ---------------------------------------------------------------- progress with the time left
def test_an_audit_reports_the_share_done_and_the_time_left(tiny) -> None:
    from unlearn.audit.pipeline import AuditConfig, run_audit
    from unlearn.audit.remind import RemindConfig

    sets = {s: _solar()[i : i + 4] for s, i in (("forget", 0), ("retain", 4), ("holdout", 8))}
    seen: list = []
    cfg = AuditConfig(remind=RemindConfig(m=3, k=2), max_items=4, max_new_tokens=4, probe_items=1, surface_items=1)
    run_audit(tiny.model, tiny.tokenizer, sets, cfg=cfg, progress=seen.append)
    fractions = [s.fraction for s in seen]
    assert fractions == sorted(fractions), "the share done never goes back"
    assert fractions[0] < 0.1 and fractions[-1] > 0.8  # the last report is at the start of the last stage
    assert any("left" in s for s in seen) and all("of the audit" in s for s in seen)
    assert any("REMIND landscape" in s for s in seen)  # the stage is still named, as before
    assert progress_line(seen[-1], "9 s").startswith("⏳ `█")


def test_teaching_reports_steps_and_the_time_left(tiny, cache_tmp) -> None:
    from unlearn.data.teach import TeachConfig, teach

    seen: list[tuple[float, str]] = []
    teach(tiny, _solar()[:4], "solar", TeachConfig(epochs=2, replay=None), progress=lambda f, m: seen.append((f, m)))
    assert seen[-1][0] == 1.0 and "of" in seen[-1][1] and "steps" in seen[-1][1]
    assert any("left" in m for _, m in seen[:-1])


# ---------------------------------------------------------------- in the browser
def _press_until_it_says(page, button: str, message: str, expected: str, tries: int = 3) -> None:
    """Press `button` until `message` says `expected`. A press can go unanswered: in one of six runs of the
    suite in two workers the box had emptied, the press landed, and nothing came in 30 s. So a press with
    no such answer within 20 s is repeated, as a person would; after `tries` the test fails with what the
    message says then."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    says = "([sel, text]) => document.querySelector(sel).innerText.includes(text)"
    for _ in range(tries):
        page.locator(button).click()
        try:
            page.wait_for_function(says, arg=[message, expected], timeout=20_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"{tries} presses of {button}, and {message} says: {page.inner_text(message)!r}")


@pytest.mark.browser
def test_second_upload_flow_in_headless_chromium(tiny_dir, tmp_path) -> None:
    """Upload, Add set, the box empties; Add set again says there is no new file; the same file again is
    'already added', not a silent copy 'solar_system (2)'; then the holdout is split from it."""
    from .browser import app_in_browser
    from .test_app import require_chromium

    require_chromium()
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        page.get_by_text("Add a set: upload a file or load a hub dataset").click()
        msg = page.locator("#add-msg")
        page.locator("#upload-file input[type=file]").set_input_files(str(SOLAR))
        msg.get_by_text("Recognised question and answer columns").wait_for(timeout=60_000)
        page.locator("#add-set-btn").click()
        msg.get_by_text("✅ Added").wait_for(timeout=60_000)
        page.wait_for_function(
            "() => !document.querySelector('#upload-file').innerText.includes('solar_system.jsonl')", timeout=30_000
        )
        assert "✅ Added" in msg.inner_text()  # clearing the box kept the message
        for label in ("Question column", "Answer column"):  # and emptied every column picker
            picker = page.get_by_label(label, exact=True).element_handle()
            page.wait_for_function("(el) => el.value === '(none)'", arg=picker, timeout=30_000)
        _press_until_it_says(page, "#add-set-btn", "#add-msg", "No new file")
        page.locator("#upload-file input[type=file]").set_input_files(str(SOLAR))
        msg.get_by_text("Recognised question and answer columns").wait_for(timeout=60_000)
        page.locator("#add-set-btn").click()
        msg.get_by_text("already added as").wait_for(timeout=30_000)
        assert "(2)" not in page.inner_text("#add-msg")
        keywords = page.locator('#set-table [data-testid="cell-0-2"]')  # row 1, the keywords column
        is_mars = "(el) => el.textContent.trim() === 'Mars'"
        page.wait_for_function(is_mars, arg=keywords.element_handle(), timeout=30_000)
        page.locator("#split-btn").click()
        page.locator("#split-msg").get_by_text("solar_system:holdout").wait_for(timeout=30_000)
        page.get_by_role("tab", name="Audit").click()
        page.locator("#audit-sets").get_by_text("solar_system:holdout").wait_for(timeout=30_000)
        assert "⚠️" not in page.inner_text("#audit-sets")
    assert not errors, json.dumps(errors)
