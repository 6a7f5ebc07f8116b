"""The Compare tab's handlers on the tiny model: one comparison, every panel redrawn from it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import app
from tests.browser import app_in_browser, compare_in_browser, run_default_method
from tests.test_app import require_chromium
from tests.test_app_unlearn import _run
from ui.common import AGAINST_ITSELF

SETS = ["harry_potter:known", "general_knowledge", {}]


def _compare(source=app.ACTIVE, kind="Forget item", item="0", text="", session="c1"):
    return app.compare_ui(
        source, kind, item, text, 8, False, 0.7, 0, 0.2, "probability", *SETS, SimpleNamespace(session_hash=session)
    )


def test_compare_after_a_run_fills_every_panel_and_redraws_from_kept_arrays(app_tiny) -> None:
    list(_run("grad_diff", steps=2, lr=5e-2))
    out = _compare()
    note, left, right, strips, pos, topk, lens, change, grid, layer, head, one_head, roll, html = out
    assert note.startswith("**Before**") and "run `" in note and "gold answer" in note
    assert isinstance(left, list) and isinstance(right, list)
    delta = np.asarray(strips.data[2].z[0])
    assert np.abs(delta).max() > 0, "the run changed the answer's probabilities"
    assert 0 <= pos["value"] <= pos["maximum"] and 1 <= layer["value"] <= 2 and 0 <= head["value"] <= 3
    assert "Layer" in one_head.layout.title.text and len(roll.data) == 2
    assert Path(html).read_text().count("<h2>") == 7
    req = SimpleNamespace(session_hash="c1")
    assert app.tokens_ui(0.5, req).data[0].type == "heatmap"
    assert "Next token" in app.topk_ui(1, req).layout.title.text
    assert "rank" in app.lens_ui("rank", req).layout.title.text
    assert "Layer 2, head 3" in app.head_ui(2, 3, req).layout.title.text
    msg, fig, html = app.attribution_ui(app.ATTRIBUTION_METHODS["ablation"], req)
    assert "both models" in msg and len(fig.data) == 2
    assert "Attribution" in Path(html).read_text()


def test_the_model_against_itself_shows_no_difference(app_tiny) -> None:
    out = _compare(source=AGAINST_ITSELF, session="self")
    assert "every difference is zero" in out[0]
    _, fig, _ = app.attribution_ui(app.ATTRIBUTION_METHODS["ablation"], SimpleNamespace(session_hash="self"))
    assert list(fig.data[0].y) == list(fig.data[1].y)  # one model on both sides
    assert np.abs(np.asarray(out[3].data[2].z[0])).max() == 0
    assert all(tag is None for _, tag in out[1])


def test_bad_compare_input_gets_a_message_and_keeps_the_last_result(app_tiny) -> None:
    good = _compare(session="c2")
    for kw, match in (
        (dict(kind="Free text", text=" "), "free-text box"),
        (dict(item=None), "Pick an item"),
        (dict(source="/no/such/run"), "run.json"),
    ):
        out = _compare(session="c2", **kw)
        assert out[0].startswith("❌") and match in out[0], out[0]
    assert good[0].startswith("**Before**") and app.RESULTS.get("c2") is not None  # the good result is kept
    assert app.tokens_ui(0.3, SimpleNamespace(session_hash="c2")) is not None
    req = SimpleNamespace(session_hash="nobody")
    assert app.attribution_ui(app.ATTRIBUTION_METHODS["ablation"], req)[0].startswith("❌ Press Compare first")


def test_free_text_and_item_pickers(app_tiny) -> None:
    items, text = app.compare_items("Forget item", *SETS)
    assert items["visible"] and items["choices"][0][1] == "0" and not text["visible"]
    items, text = app.compare_items("Free text", *SETS)
    assert not items["visible"] and text["visible"]
    sources = dict((v, k) for k, v in app.compare_sources())
    assert app.ACTIVE in sources and AGAINST_ITSELF in sources


@pytest.mark.browser
def test_compare_tab_in_headless_chromium(tiny_dir, tmp_path) -> None:
    """Run from the Unlearn tab, then every Compare panel, its controls, attribution and the download."""
    require_chromium()
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        run_default_method(page, timeout=120_000)
        compare_in_browser(page)
        assert "after = run" in page.inner_text("#compare-note")
        with page.expect_download() as dl:
            page.locator("#cmp-download").click()
        html = Path(dl.value.path()).read_text()
        assert html.count("<h2>") == 8  # seven probe panels and the attribution
        page.screenshot(path=str(tmp_path / "compare_tab.png"), full_page=True)
    assert not errors, json.dumps(errors)
