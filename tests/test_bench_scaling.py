"""`bench --scaling` (issue 19): the exponent fit, the quick run on the tiny model through the command
line, and the figure. No timing is checked against anything: on a shared machine it is noise."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from unlearn.__main__ import main
from viz import scaling
from viz.scaling import fit_power, scaling_figure

CURVES = {
    "run_vs_forget_items",
    "step_vs_forget_items",
    "step_vs_tokens",
    "compare_vs_prompt_tokens",
    "audit_vs_items",
    "audit_vs_neighbours",
}


def synthetic(n_curves: int = 4) -> dict:
    xs = [8, 16, 32, 64]
    curves = {
        f"c{i}": {"x": xs, "seconds": [0.1 * x ** (i / 2) for x in xs], "x_label": f"size {i}", "exponent": i / 2}
        for i in range(n_curves)
    }
    return {"curves": curves, "device": "cpu", "model": "toy", "quick": True}


@pytest.mark.parametrize("b", [0.0, 1.0, 2.0, 0.5])
def test_the_fit_recovers_a_known_exponent(b: float) -> None:
    xs = [4, 8, 16, 32, 64]
    a, fitted = fit_power(xs, [2.5 * x**b for x in xs])
    assert fitted == pytest.approx(b, abs=1e-9) and a == pytest.approx(2.5, rel=1e-9)


def test_the_fit_needs_two_points() -> None:
    with pytest.raises(ValueError, match="at least two"):
        fit_power([8], [1.0])


def test_quick_scaling_run_prints_every_curve_and_writes_the_page(tiny_dir: Path, tmp_path, capsys, monkeypatch):
    # the PNG (headless Chromium) has its own test below: here only the page and the JSON
    monkeypatch.setattr(scaling, "render_png", lambda fig, path, scale=2.0: False)
    args = ["bench", "--scaling", "--quick", "--model", str(tiny_dir), "--device", "cpu", "--json"]
    assert main([*args, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert set(out["curves"]) == CURVES
    for name, c in out["curves"].items():
        assert len(c["x"]) >= 2 and len(c["x"]) == len(c["seconds"]), name
        assert all(a < b for a, b in zip(c["x"], c["x"][1:], strict=False)), name  # x increases
        assert all(t > 0 for t in c["seconds"]), name
        assert math.isfinite(c["exponent"]) and c["x_label"], name
    # the Compare curve says how much each side generated, so a change of length cannot hide in it
    assert len(out["curves"]["compare_vs_prompt_tokens"]["generated_tokens"]) == len(
        out["curves"]["compare_vs_prompt_tokens"]["x"]
    )
    assert out["quick"] is True and out["device"] == "cpu"
    assert out["clock"].startswith("CPU time")  # on a CPU: the process's own time, which other jobs barely move
    assert Path(out["files"]["html"]).is_file() and "png" not in out["files"]
    assert "cdn.plot.ly" in Path(out["files"]["html"]).read_text()  # the committed page stays small
    assert "no PNG" in captured.err


def test_the_figure_has_one_log_log_panel_per_curve() -> None:
    result = synthetic(4)
    fig = scaling_figure(result)
    xaxes = [k for k in fig.layout if k.startswith("xaxis")]
    yaxes = [k for k in fig.layout if k.startswith("yaxis")]
    assert len(xaxes) == len(yaxes) == 4
    assert all(fig.layout[k].type == "log" for k in xaxes + yaxes)
    assert [fig.layout[k].title.text for k in sorted(xaxes)] == [f"size {i}" for i in range(4)]
    titles = [a.text for a in fig.layout.annotations]
    assert all(f"b = {i / 2:.2f}" in t for i, t in enumerate(titles))  # each exponent is shown
    assert len(fig.data) == 3 * 4  # per panel: slope-1 guide, fitted line, measured points
    measured = [t for t in fig.data if t.mode == "markers"]
    assert list(measured[2].y) == result["curves"]["c2"]["seconds"]


@pytest.mark.browser
def test_the_png_is_drawn_in_headless_chromium(tmp_path) -> None:
    pytest.importorskip("playwright")
    if not os.path.exists(scaling.CHROMIUM):
        pytest.skip(f"{scaling.CHROMIUM} is not installed")
    written = scaling.write_scaling(synthetic(2), tmp_path, log=lambda _: None)
    png = Path(written["png"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
