from __future__ import annotations

import pytest

from unlearn.data import workspace as ws
from unlearn.data.builtin import DataSet
from unlearn.data.examples import Example
from unlearn.data.formats import DataError


def test_resolve_prefers_session_sets_then_builtins() -> None:
    ds = DataSet("mine", "Mine", "uploaded", "", [Example("q?", "a.")])
    sets, name = ws.add_set({}, ds)
    assert name == "mine" and ws.resolve("mine", sets).examples[0].answer == "a."
    assert len(ws.resolve("harry_potter", sets)) >= 30
    with pytest.raises(DataError, match="Unknown set"):
        ws.resolve("nothing", sets)


def test_adding_a_set_never_overwrites_an_earlier_one() -> None:
    ds = DataSet("harry_potter", "x", "uploaded", "", [Example("q?", "a.")])
    sets, first = ws.add_set({}, ds)
    sets, second = ws.add_set(sets, ds)
    assert first != "harry_potter" and second not in ("harry_potter", first)
    assert len(sets) == 2


def test_edits_keep_hidden_fields_drop_empty_rows_and_add_new_ones() -> None:
    base = ws.resolve("fictitious_authors:forget", {})
    rows = ws.table(base)
    rows[0][1] = "A new answer."
    rows[1][0] = rows[1][1] = ""  # cleared row: dropped
    rows.append(["A new question?", "A new item.", "new", "", "", "", ""])
    edited = ws.apply_edits(base, rows)
    assert edited.name.endswith("(edited)") and len(edited) == len(base)
    assert edited.examples[0].answer == "A new answer." and edited.examples[0].meta == {}
    assert edited.examples[0].perturbed_answers == base.examples[0].perturbed_answers
    assert edited.examples[-1].question == "A new question?" and edited.examples[-1].keywords == ["new"]


def test_an_edit_that_empties_an_answer_says_which_row() -> None:
    base = ws.resolve("harry_potter", {})
    rows = ws.table(base)
    rows[2][1] = ""
    with pytest.raises(DataError, match="Row 3"):
        ws.apply_edits(base, rows)


def test_taught_sets_warn_until_the_model_was_taught_them() -> None:
    fa = ws.resolve("fictitious_authors:forget", {})
    note, warn = ws.knowledge_status("forget", fa, None)
    assert "Teach" in warn
    note, warn = ws.knowledge_status("forget", fa, {"set": "fictitious_authors:forget + fictitious_authors:retain"})
    assert not warn and "taught" in note
    note, warn = ws.knowledge_status("holdout", ws.resolve("fictitious_authors:holdout", {}), None)
    assert "never-seen" in note and not warn
    note, _ = ws.knowledge_status("forget", ws.resolve("harry_potter", {}), None)
    assert "own knowledge" in note


def test_a_big_set_shows_its_first_rows_and_edits_keep_the_rest() -> None:
    n = ws.TABLE_LIMIT + 5
    ds = DataSet("big", "big", "uploaded", "", [Example(f"Q{i}?", f"A{i}.") for i in range(n)])
    rows = ws.table(ds)
    assert len(rows) == ws.TABLE_LIMIT
    rows[0][1] = "An edited answer."
    rows.append(["A new question?", "A new answer.", "", "", ""])
    edited = ws.apply_edits(ds, rows)
    assert len(edited) == n + 1 and edited.examples[0].answer == "An edited answer."
    assert [e.question for e in edited.examples[ws.TABLE_LIMIT : n]] == [f"Q{i}?" for i in range(ws.TABLE_LIMIT, n)]
    assert edited.examples[-1].question == "A new question?"
