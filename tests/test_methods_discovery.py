"""Methods are found, not listed (issue 18): every module in unlearn/train/methods/ is imported and
registers a method; a module that registers none stops the import with what to do."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from unlearn.train import methods
from unlearn.train.methods import METHODS, MODULES, discover


def test_every_method_file_is_discovered_and_registers_its_method() -> None:
    files = {p.stem for p in Path(methods.__file__).parent.glob("*.py")} - methods.SHARED - {"__init__"}
    assert set(MODULES) == files and len(files) >= 20
    assert sorted(m for ids in MODULES.values() for m in ids) == sorted(METHODS)
    assert MODULES["npo"] == ["npo"]


def test_a_module_that_registers_nothing_is_an_error(tmp_path: Path, monkeypatch) -> None:
    pkg = tmp_path / "scratch_methods"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "forgotten.py").write_text('"""A method file whose class lost its @register."""\nX = 1\n')
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ImportError, match="scratch_methods.forgotten registers no method: decorate"):
        discover([str(pkg)], "scratch_methods")
    sys.modules.pop("scratch_methods.forgotten", None)


def test_the_template_of_the_readme_is_a_working_method(tiny, monkeypatch) -> None:
    """docs/method_template.py, dropped in as step 1 of "Add a method in three steps" says, registers and
    trains (kept out of METHODS afterwards)."""
    import importlib.util

    from tests.test_memory_plan import FORGET, RETAIN
    from unlearn.train.engine import RunSpec, run_unlearning
    from unlearn.train.loop import LoopConfig
    from unlearn.train.methods import registry

    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))  # the registration stays in this test
    path = Path(__file__).resolve().parents[1] / "docs" / "method_template.py"
    spec = importlib.util.spec_from_file_location("unlearn.train.methods.template", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    assert "template" in registry.METHODS
    out = run_unlearning(
        tiny, RunSpec("template", eval_every=0, loop=LoopConfig(lr=1e-2, steps=2, batch_size=1)), FORGET, RETAIN, RETAIN
    )
    assert out.metrics["forget_prob_after"] < out.metrics["forget_prob_before"]
