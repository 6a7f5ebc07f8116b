"""The Audit tab's handlers on the tiny model: progress, every view, the saved audit, Cancel, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tests.browser import (
    app_in_browser,
    audit_in_browser,
    compare_in_browser,
    load_in_browser,
    render_offline,
    run_default_method,
    teach_in_browser,
    tofu_pipeline_sets,
)
from tests.test_app import require_chromium
from tests.test_app_unlearn import _run
from unlearn.audit.pipeline import AuditConfig
from unlearn.serve.store import STORE

from . import tabs

SETS = ["fictitious_authors:forget", "fictitious_authors:retain", "fictitious_authors:holdout"]
QUICK = dict(items=4, neighbours=2, p=0.2, m=3, probes=1, relearn_on=True, surfaces=1, patched=0, extras=[])
QUICK |= dict(retain_model="")
KEYS = ("items", "neighbours", "p", "m", "probes", "relearn_on", "surfaces", "patched", "extras", "retain_model")


def _audit(source=tabs.ACTIVE, session="a1", sets=SETS, **kw):
    s = {**QUICK, **kw}
    return tabs.audit_ui(source, *[s[k] for k in KEYS], *sets, {}, SimpleNamespace(session_hash=session))


def test_audit_of_a_run_reports_progress_fills_every_view_and_is_saved(app_tiny) -> None:
    list(_run("grad_diff", steps=2, lr=5e-2))
    weights = {n: p.detach().clone() for n, p in STORE.require().model.named_parameters()}
    updates = list(_audit(extras=list(tabs.AUDIT_EXTRAS), patched=2))
    assert any("⏳" in u[0] for u in updates[:-1]) and all(u[1] is not None for u in updates[-1:])
    msg, headline, aucs, auc_fig, roc_a, roc_b, feats, scatter, verdicts, item, land, surf, tofu, *rest = updates[-1]
    tofu_fig, probes, honesty, relearn, quant, patching, patching_curves, html, figs_json = rest
    assert msg.startswith("✅ Audit finished") and "Saved beside run" in msg
    assert "different sources" not in msg  # fictitious_authors' own holdout
    assert "REMIND" in headline and "not computed" in headline  # no retain-only model: said plainly
    assert "Model utility (TOFU" in headline and "Quantization attack" in headline
    assert "**Activation patching** (2 forget items)" in headline  # its progress lines: test_patching (throttled here)
    assert np.asarray(patching.data[0].z, dtype=float).shape == (9, 2)
    assert "mean of the first 2" in patching.layout.title.text and len(patching_curves.data) == 4
    assert {r[0] for r in aucs} >= {"LOSS", "Min-K%++", "REMIND", "GradNorm"}
    assert quant is not None and len(tofu["headers"]) == 1 + 5  # forget, retain, holdout, Real Authors, World Facts
    assert len(verdicts) == 12 and item["value"] == "forget:0" and len(item["choices"]) == 12
    assert surf is not None and len(surf.data) == 3 and land.data
    assert probes is not None and relearn is not None and len(tofu["value"]) == 6
    assert tofu["value"][-1][0].startswith("model utility (TOFU")
    assert Path(html).read_text().startswith("<!doctype html>") and "Relearning attack" in json.loads(
        Path(figs_json).read_text()
    )
    for n, p in STORE.require().model.named_parameters():
        assert p.equal(weights[n]), n  # the relearning attack put the run's weights back
    req = SimpleNamespace(session_hash="a1")
    land2, surf2 = tabs.audit_item_ui("holdout:1", req)
    assert "holdout" in land2.layout.title.text and surf2 is None  # surfaces are drawn for forget items only
    # the saved audit comes back without the model, in another session
    shown = tabs.audit_show_ui(STORE.active_run().run_dir, SimpleNamespace(session_hash="other"))
    assert shown[0].startswith("Saved audit") and shown[2] == aucs


def test_cancel_stops_the_audit_and_keeps_the_run(app_tiny) -> None:
    list(_run("grad_diff", steps=1))
    run_dir = STORE.active_run().run_dir
    weights = {n: p.detach().clone() for n, p in STORE.require().model.named_parameters()}
    gen = _audit(session="c")
    first = next(gen)
    assert first[0].startswith("⏳") or "⏳" in first[0]
    assert "Cancelling" in tabs.audit_cancel_ui(SimpleNamespace(session_hash="c"))
    last = list(gen)[-1]
    assert "cancelled" in last[0] and all(v is not None for v in last[1:])  # gr.skip(): the views stay
    assert STORE.active_run().run_dir == run_dir and not (Path(run_dir) / "audit.json").exists()
    for n, p in STORE.require().model.named_parameters():
        assert p.equal(weights[n]), n
    assert tabs.audit_cancel_ui(SimpleNamespace(session_hash="c")) == "No audit is running."


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        (dict(sets=[SETS[0], SETS[1], tabs.NONE]), "holdout set"),
        (dict(sets=["no_such_set", SETS[1], SETS[2]]), "no_such_set"),
        (dict(source="/no/such/run"), "run.json"),
        (dict(items=1), "at least 2 items"),
        (dict(retain_model="/no/such/model"), "/no/such/model"),
    ],
)
def test_bad_audit_input_gets_a_message(app_tiny, kw, match) -> None:
    last = list(_audit(session="bad", **kw))[-1]
    assert last[0].startswith("❌") or match in last[0], last[0]
    assert match in last[0], last[0]


def test_the_quantization_attack_runs_at_4_bits_and_adds_8_only_when_asked() -> None:
    from ui.audit_tab.handlers import DEFAULT_EXTRAS, EXTRAS, audit_config

    base = dict(items=4, neighbours=2, p=0.2, m=3, probes=0, relearn_on=False, surfaces=0)
    assert audit_config(**base).quantize_bits == (4,)  # the tab's default, as the paper's attack
    assert audit_config(**base, extras=DEFAULT_EXTRAS).quantize_bits == (4,)
    assert audit_config(**base, extras=list(EXTRAS)).quantize_bits == (8, 4)  # with the 8-bit control
    assert audit_config(**base, extras=[]).quantize_bits == ()
    assert AuditConfig().quantize_bits == (4,) and AuditConfig().surface_items == 1


def test_the_sets_line_names_the_three_sets_and_warns_of_a_holdout_from_another_source() -> None:
    line = tabs.audit_sets_line(*SETS)
    assert "forget **fictitious_authors:forget**" in line and "⚠️" not in line
    line = tabs.audit_sets_line("harry_potter", "general_knowledge", "fictitious_authors:holdout")
    assert "⚠️" in line and "different sources" in line and "not whether the forget items were trained on" in line
    assert "cannot be told" in tabs.audit_sets_line("forget01_perturbed", tabs.NONE, "holdout01_perturbed")
    # picking a forget set with a holdout split of its own picks that split, unless the holdout already matches
    from ui.data_tab.handlers import holdout_for

    assert holdout_for("fictitious_authors:forget", "harry_potter", {})["value"] == "fictitious_authors:holdout"
    assert holdout_for("fictitious_authors:forget", tabs.NONE, {})["value"] == "fictitious_authors:holdout"
    skip = holdout_for("fictitious_authors:forget", "fictitious_authors:holdout", {})
    assert skip == holdout_for("harry_potter", "fictitious_authors:holdout", {})  # gr.skip(): nothing to change
    assert "value" not in skip


def test_an_audit_against_a_holdout_from_another_source_says_so(app_tiny) -> None:
    list(_run("npo", steps=1))
    sets = ["harry_potter:known", "general_knowledge", "fictitious_authors:holdout"]
    last = list(_audit(session="src", sets=sets, probes=0, relearn_on=False, surfaces=0))[-1]
    assert last[0].startswith("⚠️") and "different sources" in last[0] and "Audit finished" in last[0]
    rec = json.loads(Path(STORE.active_run().run_dir, "audit.json").read_text())
    assert "different sources" in rec["holdout_note"]
    html = Path(last[-2]).read_text()
    assert "different sources" in html  # the report says it too


def test_kept_steps_are_compared_audited_and_drawn_from_the_tabs(app_tiny) -> None:
    # Unlearn with "keep the weights every 1 step", then pick step 1 in Compare and Audit
    last = list(_run("grad_diff", steps=2, lr=5e-2, stop=[1, 0, 0]))[-1][0]
    assert "Kept the weights at steps 1, 2" in last
    run_dir = STORE.active_run().run_dir
    step1 = f"{run_dir}#step=1"
    assert step1 in [v for _, v in tabs.compare_sources()] and step1 in [v for _, v in tabs.audit_sources()]
    out = list(_audit(source=step1, session="step", probes=0, relearn_on=False, surfaces=0))[-1]
    assert "✅ Audit finished" in out[0] and "as the audit of its step 1" in out[0]
    assert STORE.active_run().step == 1 and Path(run_dir, "audit-step-000001.json").is_file()
    assert not Path(run_dir, "audit.json").exists()  # the run's end was not audited
    shown = tabs.audit_show_ui(step1, SimpleNamespace(session_hash="other"))
    assert shown[0].startswith("Saved audit") and "at step 1" in shown[0]
    assert tabs.audit_show_ui(f"{run_dir}#step=2", SimpleNamespace(session_hash="x"))[0].startswith("❌ Step 2")
    assert "at step 2" in tabs.load_run_ui(f"{run_dir}#step=2") or STORE.active_run().step == 2
    assert "kept no weights at step 7" in tabs.load_run_ui(f"{run_dir}#step=7")
    assert "a step the run kept" in tabs.delete_run_ui(step1)[0] and Path(run_dir).is_dir()
    shown, note = tabs.run_steps_ui(run_dir)
    fig = shown["value"]
    assert shown["visible"]
    forget = next(t for t in fig.data if t.name == "forget")
    assert list(forget.marker.symbol) == ["diamond", "diamond"] and "audited: 1" in note
    # the run's page: what it was, its settings, before -> after; its end not audited (only step 1)
    assert note.startswith(f"**{Path(run_dir).name}**") and "Settings:" in note and "forget P̃" in note
    assert "Not audited yet" in note


def test_show_without_a_saved_audit_says_so(app_tiny) -> None:
    out = tabs.audit_show_ui(tabs.ACTIVE, SimpleNamespace(session_hash="x"))
    assert out[0].startswith("❌") and "no saved audit" in out[0]


def test_runs_tab_lists_audited_runs_exports_and_deletes(app_tiny) -> None:
    list(_run("grad_diff", steps=1))
    list(_run("npo", steps=1))
    list(_audit(session="r", probes=0, relearn_on=False, surfaces=0))  # audits the NPO run (active)
    rows, fig, picker = tabs.runs_view_ui()
    assert [r[1] for r in rows] == ["npo", "grad_diff"]  # newest first
    assert rows[0][7] != "—" and rows[1][7] == "—"  # REMIND AUC only where audited
    assert {t.name for t in fig.data} == {"npo", "grad_diff"} and len(picker["choices"]) == 2
    npo_dir, gd_dir = picker["choices"][0][1], picker["choices"][1][1]
    assert picker["value"] == npo_dir  # the picker starts at the newest run (issue 15)
    msg, html, data = tabs.runs_export_ui(npo_dir, SimpleNamespace(session_hash="r"))
    assert "with its audit" in msg and "REMIND verdict per item" in Path(html).read_text()
    assert json.loads(Path(data).read_text())["audit"]["summary"]["remind_auc"] is not None
    msg, html, _ = tabs.runs_export_ui(gd_dir, SimpleNamespace(session_hash="r"))
    assert "not audited yet" in msg and "Not audited" in Path(html).read_text()
    assert tabs.runs_export_ui(None, SimpleNamespace(session_hash="r"))[0].startswith("❌")
    assert tabs.load_run_ui(gd_dir).startswith("✅") and STORE.active_run().run_dir == gd_dir
    msg, rows, _, picker = tabs.runs_delete_ui(gd_dir)
    assert msg.startswith("🗑") and [r[1] for r in rows] == ["npo"] and STORE.active_run() is None
    assert Path(npo_dir, "audit.json").is_file()  # the other run and its audit are untouched


@pytest.mark.browser
def test_tofu_pipeline_in_headless_chromium(tiny_dir, tmp_path) -> None:
    """As a person would: load the model, pick the fictitious authors' splits, teach, unlearn, compare,
    audit, then the Runs tab's export, and the exported report opened with the network off renders every plot."""
    require_chromium()
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        load_in_browser(page, str(tiny_dir))
        tofu_pipeline_sets(page)
        teach_in_browser(page, epochs=1, timeout=120_000)
        run_default_method(page, timeout=120_000)
        compare_in_browser(page, item="1. Where and when was Marisol Quenneby born?", exercise=False)
        audit_in_browser(page, items=4, neighbours=2, timeout=300_000)
        assert "REMIND" in page.inner_text("#audit-headline")
        verdicts = page.inner_text("#audit-verdicts")  # the table scrolls: its first rows are the forget items
        assert "forget" in verdicts and ("residual memorisation" in verdicts or "looks forgotten" in verdicts)
        with page.expect_download() as dl:
            page.locator("#audit-html").click()
        audit_html = Path(dl.value.path()).read_text()
        assert "REMIND verdict per item" in audit_html
        page.get_by_role("tab", name="Runs").click()
        page.locator("#plot-runs .js-plotly-plot").wait_for(timeout=30_000)
        assert "npo" in page.inner_text("#runs-table")
        page.get_by_label("Run", exact=True).click()
        page.get_by_role("option").first.click()
        page.get_by_role("button", name="Export", exact=True).click()
        page.locator("#runs-status").get_by_text("with its audit").wait_for(timeout=60_000)
        with page.expect_download() as dl:
            page.locator("#runs-html").click()
        report = tmp_path / "run-report.html"
        report.write_text(Path(dl.value.path()).read_text())
        page.screenshot(path=str(tmp_path / "runs_tab.png"), full_page=True)
    assert not errors, json.dumps(errors)
    got = render_offline(report)
    assert got["plots"] >= 10 and got["drawn"] == got["plots"] and got["errors"] == got["refused"] == 0
