"""Audit any model pair from the app (issue 16): a checkpoint made elsewhere imported from the Compare,
Audit or Runs tab, compared and audited like a run made here; a run downloaded as a standard model."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.browser import (
    app_in_browser,
    audit_in_browser,
    compare_in_browser,
    import_in_browser,
    tofu_pipeline_sets,
)
from tests.test_app import require_chromium
from tests.test_export_import import FORGET, RETAIN, _logits
from unlearn.model.export_run import export_run
from unlearn.model.models import load_model
from unlearn.serve.store import STORE
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.runs import list_runs, save_run

from . import tabs

REQ = SimpleNamespace(session_hash="pairs", username=None)


def unlearned_elsewhere(tiny_dir: Path, where: Path) -> tuple[Path, torch.Tensor]:
    """A checkpoint as a reviewer receives it: a full-parameter run on the tiny model, exported with
    `--format hf` into a folder outside the runs folder; (the folder, its logits on IDS)."""
    lm = load_model(str(tiny_dir), device="cpu")
    spec = RunSpec("grad_diff", mode="full", loop=LoopConfig(lr=5e-2, steps=3, batch_size=1))
    out = run_unlearning(lm, spec, FORGET, RETAIN, RETAIN)
    after = _logits(lm.model)
    run = save_run(out, lm, {"forget": "f", "retain": "r"}, root=where / "their_runs")
    fresh = load_model(str(tiny_dir), device="cpu")
    return export_run(fresh, run, "hf", where / "unlearned-checkpoint"), after


def test_import_compare_and_download_from_the_tabs(app_tiny, tiny_dir, tmp_path) -> None:
    folder, want = unlearned_elsewhere(tiny_dir, tmp_path)
    before = _logits(app_tiny.model)
    msg = tabs.import_ui(str(folder), "their NPO", REQ)
    assert msg.startswith("✅ Imported `their NPO`") and "tensors differ" in msg, msg
    run = STORE.active_run()
    assert run is not None and run.record["kind"] == "imported"
    assert torch.equal(_logits(app_tiny.model), want)  # after = the checkpoint
    with STORE.before():
        assert torch.equal(_logits(app_tiny.model), before)  # before = the model loaded in Model & data
    # the pickers of Compare and Audit show it as the run on the model; Runs lists it first
    label = dict((v, k) for k, v in tabs.compare_sources())[tabs.ACTIVE]
    assert "imported" in label
    rows, _, pick = tabs.runs_view_ui()
    assert pick["value"] == run.run_dir and list_runs()[0]["method"] == "imported"
    *_, last = tabs.compare_ui(
        tabs.ACTIVE, "Forget item", "0", "", 8, False, 0.7, 0, 0.2, "probability", "harry_potter:known", "", {}, REQ
    )
    assert "**after** = imported checkpoint `their NPO`" in last[0]
    assert all(last[i] is not None for i in range(3, 13))  # every panel drawn
    # a bad checkpoint: a message, nothing imported, the pair on the model stays
    bad = tabs.import_ui(str(tmp_path / "no-such-folder"), "", REQ)
    assert bad.startswith("❌") and "Nothing was imported" in bad
    assert STORE.active_run() is run and len(list_runs()) == 1
    # the Runs tab's download: a zip of a folder transformers loads on its own
    note, archive = tabs.export_model_ui(run.run_dir, next(iter(tabs.EXPORT_FORMATS)), REQ)
    assert note.startswith("📦") and archive.endswith(".zip"), note
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp_path / "unzipped")
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "unzipped", attn_implementation="sdpa")
    assert torch.equal(_logits(plain), want)
    assert STORE.active_run().run_dir == run.run_dir  # export put the pair back on the model
    assert torch.equal(_logits(app_tiny.model), want)
    note, _ = tabs.export_model_ui(run.run_dir, "PEFT adapter (LoRA runs)", REQ)
    assert note.startswith("❌") and "--format hf" in note


@pytest.mark.browser
def test_an_imported_checkpoint_in_headless_chromium(tiny_dir, tmp_path) -> None:
    """As a reviewer would: import a checkpoint from the Runs tab, Compare draws every panel, a small
    audit finishes and is saved beside the imported pair."""
    require_chromium()
    folder, _ = unlearned_elsewhere(tiny_dir, tmp_path / "elsewhere")
    with app_in_browser(str(tiny_dir), tmp_path) as (page, errors):
        import_in_browser(page, str(folder))
        page.wait_for_function(  # the Runs table lists the pair (refreshed after the import)
            "() => document.querySelector('#runs-table').innerText.includes('imported')", timeout=30_000
        )
        tofu_pipeline_sets(page)
        compare_in_browser(page, item="1. Where and when was Marisol Quenneby born?", exercise=False)
        assert "after = imported checkpoint" in page.inner_text("#compare-note")
        audit_in_browser(page, items=4, neighbours=2, timeout=300_000)
        assert "Saved beside run" in page.inner_text("#audit-status")
        page.screenshot(path=str(tmp_path / "imported_audit.png"), full_page=True)
    runs = [r for r in list_runs(tmp_path / "runs") if r.get("kind") == "imported"]
    assert len(runs) == 1 and (Path(runs[0]["dir"]) / "audit.json").is_file()
    assert json.loads((Path(runs[0]["dir"]) / "audit.json").read_text())["run"]["method"] == "imported"
    assert not errors, json.dumps(errors)
