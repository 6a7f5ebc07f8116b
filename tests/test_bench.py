"""The benchmark command runs end to end on the tiny model. Figures are not checked against the
targets: timings on a shared machine are noise, and a 2-layer toy says nothing about them."""

from __future__ import annotations

import json
import math
from pathlib import Path

from unlearn.__main__ import main
from unlearn.tools.bench import TARGETS


def test_bench_prints_every_figure_as_one_json_line(tiny_dir: Path, capsys) -> None:
    assert main(["bench", "--model", str(tiny_dir), "--device", "cpu", "--quick", "--json"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    out = json.loads(lines[-1])
    assert len(lines) >= 5  # one human-readable line per measurement before the JSON
    for key in TARGETS:
        assert math.isfinite(out[key]) and out[key] > 0, key
    assert set(out["met"]) == set(TARGETS) and all(isinstance(v, bool) for v in out["met"].values())
    assert set(out["targets"]) == set(TARGETS)
    assert out["device"] == "cpu" and out["threads"] >= 1
    assert out["peak_bytes"] > 0 and out["model_bytes"] > 0
    # the training peaks are reported beside the before/after one, stored and recomputed
    assert out["train_peak_bytes"] > 0 and out["train_low_peak_bytes"] > 0
    assert out["train_memory_vs_model_ratio"] > 0 and out["train_low_memory_vs_model_ratio"] > 0
    # the Compare tab's time comes with its parts, which add up to it
    parts = ["generate", "probe", "figures", "attribution"]
    assert sum(out[f"compare_{p}_seconds"] for p in parts) <= out["compare_tab_seconds"] * 1.01
    assert out["compare_prompt_tokens"] > 0
    # the press without attribution against its floor, timed in the same rounds (issue 19)
    assert out["compare_floor_seconds"] > 0
    without = out["compare_generate_seconds"] + out["compare_probe_seconds"] + out["compare_figures_seconds"]
    assert out["compare_vs_floor_ratio"] >= 0.99 * without / out["compare_floor_seconds"]  # the press holds its parts
    # the default (gradient) attribution against one bare forward + backward per model, and ablation beside it
    assert out["compare_fwd_bwd_seconds"] > 0 and out["compare_attribution_ablation_seconds"] > 0
    ratio = out["compare_attribution_seconds"] / out["compare_fwd_bwd_seconds"]
    assert math.isclose(out["attribution_vs_fwd_bwd_ratio"], ratio, rel_tol=0.01)  # the JSON rounds
    assert out["remind_sequences"] == 2 * 46 and out["remind_sequences_per_s"] > 0
    # the audit against its REMIND stages, with its parts (issue 19): every part present, REMIND within the whole
    assert out["audit_items"] == 4 and out["audit_k"] == 2
    for part in ("tofu_metrics", "generations", "gradnorm", "surfaces", "probes", "honesty", "relearn", "quantize"):
        assert out[f"audit_{part}_seconds"] > 0, part
    assert 0 < out["audit_remind_seconds"] < out["audit_seconds"]
    ratio = out["audit_seconds"] / out["audit_remind_seconds"]
    assert math.isclose(out["audit_vs_remind_ratio"], ratio, rel_tol=0.01)
    # the quick demo against its floor: both whole sets scored before and after, its steps at the bare rate
    floor = sum(out[f"demo_{p}_seconds"] for p in ("scoring_before", "bare_steps", "scoring_after"))
    assert all(out[f"demo_{p}_seconds"] > 0 for p in ("scoring_before", "bare_steps", "scoring_after"))
    assert math.isclose(out["demo_floor_seconds"], floor, rel_tol=0.01)
    assert math.isclose(out["demo_vs_floor_ratio"], out["demo_run_seconds"] / floor, rel_tol=0.01)
    # activation patching of one item (issue 20): 2 directions x 3 components x 3 groups x 2 layers + 2 x 2 rows
    assert out["patching_seconds"] > 0 and out["patching_rows"] == 40 and out["patching_tokens"] > 0
    assert out["patching_vs_forward_ratio"] > 0


def test_an_imported_pair_costs_what_differs(tiny) -> None:
    """`bench --pairs` on the tiny model: one changed matrix holds one matrix, every tensor changed holds
    a model, an adapter holds the adapter (the README's figures are the bundled model's)."""
    from unlearn.tools.bench_pairs import ONE_MATRIX, bench_pairs

    out = bench_pairs(tiny, log=lambda _: None)
    matrix = tiny.model.get_parameter(ONE_MATRIX)
    assert out["one_matrix"]["held_bytes"] == matrix.numel() * matrix.element_size()
    assert out["every_tensor"]["held_bytes"] == out["model_bytes"]
    lora = out["lora_adapter"]["held_bytes"]
    assert 0 < lora < out["model_bytes"] and out["lora_adapter"]["stored_bytes"] >= lora
    assert not any("lora_" in n for n, _ in tiny.model.named_parameters())  # the model is left as it was
