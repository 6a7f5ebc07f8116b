"""The Compare tab's handlers on the tiny model: one comparison, every panel redrawn from it."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.browser import (
    COMPARE_PANELS,
    app_in_browser,
    browser_page,
    compare_in_browser,
    open_app,
    run_default_method,
    running_app,
    watch_compare,
)
from tests.test_app import require_chromium
from tests.test_app_unlearn import _run
from tests.test_compare import _changed
from ui.common import AGAINST_ITSELF
from ui.compare_tab.handlers import SLOTS
from unlearn.serve.store import STORE, ActiveRun

from . import tabs

SETS = ["harry_potter:known", "general_knowledge", {}]


def _compare(source=tabs.ACTIVE, kind="Forget item", item="0", text="", session="c1"):
    """Compare streams its results as they come: the last output holds them all."""
    *_, last = tabs.compare_ui(
        source, kind, item, text, 8, False, 0.7, 0, 0.2, "probability", *SETS, SimpleNamespace(session_hash=session)
    )
    return last


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
    assert tabs.tokens_ui(0.5, req).data[0].type == "heatmap"
    assert "Next token" in tabs.topk_ui(1, req).layout.title.text
    assert "rank" in tabs.lens_ui("rank", req).layout.title.text
    assert "Layer 2, head 3" in tabs.head_ui(2, 3, req).layout.title.text
    msg, fig, html = tabs.attribution_ui(tabs.ATTRIBUTION_METHODS["ablation"], req)
    assert "both models" in msg and len(fig.data) == 2
    assert "Attribution" in Path(html).read_text()
    *notes, (msg, heat, curves) = tabs.patching_ui(req)
    assert notes[0][0].startswith("⏳") and any("rows" in n[0] for n in notes), "progress while it patches"
    assert "best single layer" in msg and "layers" in msg, msg
    z = np.asarray(heat.data[0].z, dtype=float)  # (component · group) × layer
    assert z.shape == (9, 2) and np.isfinite(z).all()
    assert len(curves.data) == 4  # residual at all / question tokens, one layer's attention + MLP, cumulative
    assert "Activation patching" in Path(tabs.attribution_ui(tabs.ATTRIBUTION_METHODS["ablation"], req)[2]).read_text()


def _perturbed_run(lm, tmp_path: Path) -> None:
    """A LoRA "run" with random adapters on the shared model: the random tiny model then writes text."""
    STORE.set_run(ActiveRun(str(tmp_path / "perturbed"), {"id": "perturbed", "method": "npo"}, _changed(lm)))


def _given(out: tuple) -> set[str]:
    """The outputs a yield fills (the others are skipped, the page keeps them, or cleared)."""
    return {slot for slot, v in zip(SLOTS, out, strict=True) if v not in ({"__type__": "update"}, None, [])}


def test_compare_shows_each_panel_group_then_both_answers_token_by_token(app_tiny, tmp_path) -> None:
    """A gold answer: the probes' panels first, a group at a time in page order, then both answers
    of the batched LoRA generation grow; the last output holds everything, as one call returned."""
    _perturbed_run(app_tiny, tmp_path)
    req = SimpleNamespace(session_hash="stream")
    outs = list(tabs.compare_ui(tabs.ACTIVE, "Forget item", "0", "", 24, False, 0.7, 0, 0.2, "probability", *SETS, req))
    assert _given(outs[0]) == {"note"} and outs[0][0].startswith("⏳"), "a note; the last results stay till now"
    assert all(outs[1][SLOTS.index(s)] in (None, []) for s in ("before", "after", "Logit lens", "download"))
    firsts = [next(i for i, o in enumerate(outs) if slot in _given(o)) for slot in SLOTS[3:13]]
    assert firsts == sorted(firsts) and len(set(firsts)) == 4, "four panel groups, in page order"
    growing = [o[2][0][0] for o in outs[:-1] if "after" in _given(o)]
    assert len(set(growing)) > 3 and growing == sorted(growing, key=len), "the after answer grows"
    assert min(i for i, o in enumerate(outs) if "after" in _given(o)) > max(firsts), "the panels first"
    last = outs[-1]
    assert _given(last) == set(SLOTS) and last[0].startswith("**Before**") and "computed in" in last[0]
    c = tabs.RESULTS.get("stream")["c"]
    assert "".join(w for w, _ in last[2]) == c.after.generation == growing[-1]
    assert Path(last[-1]).read_text().count("<h2>") == 7


def test_the_model_against_itself_shows_no_difference(app_tiny) -> None:
    out = _compare(source=AGAINST_ITSELF, session="self")
    assert "every difference is zero" in out[0]
    _, fig, _ = tabs.attribution_ui(tabs.ATTRIBUTION_METHODS["ablation"], SimpleNamespace(session_hash="self"))
    assert list(fig.data[0].y) == list(fig.data[1].y)  # one model on both sides
    *_, (msg, _, _) = tabs.patching_ui(SimpleNamespace(session_hash="self"))
    assert msg.startswith("❌") and "same model" in msg
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
    assert good[0].startswith("**Before**") and tabs.RESULTS.get("c2") is not None  # the good result is kept
    assert tabs.tokens_ui(0.3, SimpleNamespace(session_hash="c2")) is not None
    req = SimpleNamespace(session_hash="nobody")
    assert tabs.attribution_ui(tabs.ATTRIBUTION_METHODS["ablation"], req)[0].startswith("❌ Press Compare first")
    assert list(tabs.patching_ui(req))[-1][0].startswith("❌ Press Compare first")


def test_free_text_and_item_pickers(app_tiny) -> None:
    items, text = tabs.compare_items("Forget item", *SETS)
    assert items["visible"] and items["choices"][0][1] == "0" and not text["visible"]
    items, text = tabs.compare_items("Free text", *SETS)
    assert not items["visible"] and text["visible"]
    sources = dict((v, k) for k, v in tabs.compare_sources())
    assert tabs.ACTIVE in sources and AGAINST_ITSELF in sources


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


@pytest.mark.browser
@pytest.mark.bundled
def test_compare_streams_in_headless_chromium(tmp_path) -> None:
    """Watched as a person sees it, on the bundled model (the tiny one writes too fast to watch): the
    panels come a group at a time, then the answer is written word by word under them, and the
    press ends with every panel and the note."""
    require_chromium()
    errors: list[str] = []
    with running_app("bundled", env={"UNLEARN_RUNS_DIR": str(tmp_path / "runs")}) as url, browser_page() as page:
        page.on("pageerror", lambda e: errors.append(str(e)))
        open_app(page, url)
        log = watch_compare(page)
        page.screenshot(path=str(tmp_path / "compare_streamed.png"), full_page=True)
    assert log[-1]["done"] and log[-1]["panels"] == len(COMPARE_PANELS)
    assert len({r["panels"] for r in log}) >= 3, "the panels appear a group at a time"
    drawn = next(i for i, r in enumerate(log) if r["panels"] == len(COMPARE_PANELS))
    written = list(dict.fromkeys(r["before"] for r in log[drawn:] if not r["done"]))  # distinct, in order
    assert len(written) >= 4, f"the answer grows while every panel is shown: {written}"
    assert written == sorted(written, key=len), written
    assert not errors, json.dumps(errors)
