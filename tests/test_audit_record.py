"""An audit as JSON data, its figures and tables, and the HTML report (rendered offline in Chromium)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn.audit.audit_record import load_audit, save_audit, to_record
from unlearn.audit.pipeline import AuditConfig, run_audit
from unlearn.audit.remind import RemindConfig
from unlearn.audit.remind_surface import SurfaceConfig
from unlearn.data.builtin import load_selection
from unlearn.model.models import load_model
from unlearn.train.params import make_trainable
from viz.audit_report import auc_rows, audit_figures, report_html, verdict_rows
from viz.export import figures_json

from .browser import render_offline
from .test_app import require_chromium

CFG = AuditConfig(
    remind=RemindConfig(m=3, k=2),
    max_items=4,
    max_new_tokens=4,
    probe_items=2,
    surface_items=1,
    surface=SurfaceConfig(strengths=(0.2, 0.4), ranks=(1, 3), k=2),
)


@pytest.fixture(scope="module")
def record(tiny_dir: Path) -> dict:
    lm = load_model(str(tiny_dir), device="cpu")
    tr = make_trainable(lm.model, "lora")
    torch.manual_seed(0)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.3)
    sets = {s: load_selection(f"fictitious_authors:{s}").examples for s in ("forget", "retain", "holdout")}
    res = run_audit(lm.model, lm.tokenizer, sets, tr.reference, CFG, trainable=tr)
    return to_record(res, {"run": {"id": "r1", "method": "npo", "model": "tiny"}, "sets": {"forget": "fa:forget"}})


def test_record_is_strict_json_and_round_trips_through_the_run_folder(record: dict, tmp_path: Path) -> None:
    text = json.dumps(record, allow_nan=False)  # NaN would raise: the browser and jq read it too
    save_audit(tmp_path, record)
    assert load_audit(tmp_path) == json.loads(text)
    assert load_audit(tmp_path / "missing") is None
    (tmp_path / "audit.json").write_text("{broken")
    assert load_audit(tmp_path) is None  # a damaged file is "not audited", not a crash
    assert not list(tmp_path.glob(".audit-*"))  # no temporary file left behind


def test_record_holds_what_the_figures_need(record: dict) -> None:
    assert record["labels"] == ["forget"] * 4 + ["retain"] * 4 + ["holdout"] * 4
    assert np.asarray(record["splits"]["forget"]["after"]["neighbours"]).shape == (4, 3, 2)
    assert np.asarray(record["splits"]["holdout"]["after"]["features"]).shape == (4, 15)
    assert np.asarray(record["surfaces"][0]["after"]["loss"]).shape == (2, 2)
    assert record["roc"]["after"]["remind"]["auc"] == pytest.approx(record["summary"]["remind_auc"])
    assert record["roc"]["after"]["min_k_pp"]["auc"] == pytest.approx(record["summary"]["mink_pp_auc_after"])
    assert len(record["verdicts"]) == 12 and set(record["verdicts"][4:8]) == {"retained"}


def test_figures_tables_and_json_export(record: dict) -> None:
    figs = audit_figures(record)
    expected = {"Membership-inference AUCs", "ROC curves after unlearning", "REMIND feature distributions"}
    expected |= {"Forget-item landscapes", "2-D surface, forget item #1", "Relearning attack", "Adversarial probes"}
    expected |= {"Quantization attack"}
    assert expected <= set(figs)
    names = {r[0] for r in auc_rows(record)}
    assert names >= {"LOSS", "Min-K%++", "REMIND", "GradNorm", "Change score (after − before): not an attack"}
    assert "Reference (vs the retain-only model)" not in names  # no retain-only model in this audit
    assert all(r[-1] == "4 / 4" for r in auc_rows(record))  # n of forget / holdout items on every row
    rows = verdict_rows(record)
    assert len(rows) == 12 and rows[0][1] == "forget" and rows[0][2] in ("looks forgotten", "residual memorisation")
    assert set(json.loads(figures_json(figs))) == set(figs)


def test_an_audit_saved_by_version_1_is_read_in_todays_names(record: dict, tmp_path: Path) -> None:
    old = json.loads(json.dumps(record))
    old["version"] = 1
    old["roc"]["after"]["reference"] = old["roc"]["after"].pop("change")  # v1 called the change score "reference"
    s = old["summary"]
    s["reference_auc"] = s.pop("change_auc")
    s["model_utility_after"] = s.pop("retain_utility_after")
    # v1's PrivLeak: (AUC − AUC_r) / AUC_r with AUC 0.9 and AUC_r 0.4: +125%; MUSE's: (0.1 − 0.6) / 0.6 = −83.3%
    s["min_k_auc_after"], s["min_k_auc_retain_model"], s["privleak_min_k"] = 0.9, 0.4, 125.0
    save_audit(tmp_path, old)
    got = load_audit(tmp_path)
    assert "change" in got["roc"]["after"] and "reference" not in got["roc"]["after"]
    assert got["summary"]["change_auc"] == record["summary"]["change_auc"]
    assert got["summary"]["privleak_min_k"] == pytest.approx(-83.333, abs=1e-3)
    assert "model_utility_after" not in got["summary"] and got["summary"]["upgraded_from_version"] == 1
    assert json.loads((tmp_path / "audit.json").read_text())["version"] == 1  # the file on disk is left as it was
    assert "Saved by an earlier version" in report_html(got)


def test_report_renders_every_plot_offline_in_chromium(record: dict, tmp_path: Path) -> None:
    require_chromium()
    page = tmp_path / "report.html"
    page.write_text(report_html(record))
    got = render_offline(page)
    n = len(audit_figures(record))
    assert got == {"plots": n, "drawn": n, "errors": 0, "refused": 0}
