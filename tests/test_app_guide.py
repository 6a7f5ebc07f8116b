"""The Guided demo tab (issue 20): six steps on the tiny model through the handlers, then end to end in
headless Chromium; each step refuses politely when an earlier one is missing."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.browser import app_in_browser, guide_in_browser
from tests.test_app import require_chromium
from ui.guide_tab import handlers as guide
from unlearn.audit.audit_record import load_audit
from unlearn.serve import guided
from unlearn.serve.store import STORE

from . import tabs


def test_lens_depth_reads_the_first_layer_over_the_threshold() -> None:
    prob = np.array([[0.1, 0.2], [0.6, np.nan], [0.9, 0.3]])  # (L, T)
    assert guided.lens_depth(prob, 0) == 2 and guided.lens_depth(prob, 1) is None
    assert guided.lens_depth(prob, 1, threshold=0.25) == 3


def test_the_six_steps_in_order_and_out_of_order(app_tiny) -> None:
    req = SimpleNamespace(session_hash="guide")
    for step in (tabs.guide_changed_ui, tabs.guide_audit_ui):
        assert list(step(req))[-1][0].startswith("❌ Press step 2")
    assert guide.token_ui(req)[0].startswith("❌ Press step 2")
    note, rows = guide.knows_ui(req)
    assert "We follow the first" in note and len(rows) == len(guided.guide_sets()["forget"])
    assert all(0 <= float(r[3]) <= 1 for r in rows)
    updates = list(tabs.guide_unlearn_ui(req))
    assert any(u[0].startswith("⏳ Step") for u in updates) and updates[-1][0].startswith("✅")
    msg, curves, table = updates[-1]
    assert "fell from" in msg and len(table) == 2
    run_dir = STORE.active_run().run_dir
    assert guide.layer_ui(req)[0].startswith("❌ Press step 3")
    *_, (note, left, right) = tabs.guide_changed_ui(req)
    assert "Before the run" in note and left and right
    note, strips, topk = guide.token_ui(req)
    assert "fell most" in note and strips.data and topk.data
    note, lens = guide.layer_ui(req)
    assert "logit lens" in note and "Logit lens" in lens.layout.title.text
    *progress, (note, aucs, quant) = tabs.guide_audit_ui(req)
    assert any(p[0].startswith("⏳") for p in progress)
    assert "An audit in" in note and "REMIND" in note and "Quantization" in note, note
    assert aucs.data and quant is not None
    rec = load_audit(Path(run_dir))
    assert rec is not None and rec["summary"]["items"]["forget"] == len(guided.guide_sets()["forget"])
    assert rec["config"]["quantize_bits"] == [4]


@pytest.mark.browser
def test_guided_demo_end_to_end_in_headless_chromium(tiny_dir, tmp_path) -> None:
    require_chromium()
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        times = guide_in_browser(page, timeout=240_000)
        assert set(times) == {"1", "2", "3", "4", "5", "6", "total"}
        for sel in ("#guide-curves", "#guide-strips", "#guide-topk", "#guide-lens", "#guide-aucs"):
            page.locator(f"{sel} .js-plotly-plot").wait_for(timeout=60_000)
        page.screenshot(path=str(tmp_path / "guide.png"), full_page=True)
    assert not errors, json.dumps(errors)
