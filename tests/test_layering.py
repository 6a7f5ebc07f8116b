"""The layering the architecture asks for (issue 18), checked on the sources: `unlearn/` and `viz/`
never import gradio, `viz/` never imports torch or transformers (plain values in, figures out), and a
tab never imports another tab (what several tabs share lives in ui/shared.py, ui/common.py,
ui/forms.py or ui/import_pair.py), and app.py only composes the tabs."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (top level or inside a function)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def offenders(folder: str, banned: tuple[str, ...]) -> list[str]:
    return [
        f"{p.relative_to(ROOT)} imports {name}"
        for p in sorted((ROOT / folder).rglob("*.py"))
        for name in sorted(imported(p))
        if name.split(".")[0] in banned
    ]


def test_no_gradio_below_the_tabs() -> None:
    assert offenders("unlearn", ("gradio",)) == []
    assert offenders("viz", ("gradio",)) == []


def test_plots_take_plain_values() -> None:
    assert offenders("viz", ("torch", "transformers", "peft", "captum")) == []


def test_no_tab_imports_another_tab() -> None:
    """Each tab is a package ui/<name>_tab/ (page.py: layout and wiring; handlers.py: the work)."""
    tabs = {p.name for p in (ROOT / "ui").glob("*_tab") if p.is_dir()}
    assert len(tabs) >= 5
    found = [
        f"{p.relative_to(ROOT)} imports {name}"
        for tab in sorted(tabs)
        for p in sorted((ROOT / "ui" / tab).glob("*.py"))
        for name in sorted(imported(p))
        if name.startswith("ui.") and name.split(".")[1] in tabs - {tab}
    ]
    assert found == []


def test_each_tab_owns_its_layout_and_wiring() -> None:
    """app.py composes the tabs: it builds no component and wires no event itself."""
    tree = ast.parse((ROOT / "app.py").read_text())
    calls = {
        f"{n.func.value.id}.{n.func.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
    }
    built = {c for c in calls if c.startswith("gr.")} - {"gr.Blocks", "gr.Markdown", "gr.Tabs"}
    assert built == set(), f"app.py builds components itself: {sorted(built)}"
    for tab in ("data_tab", "unlearn_tab", "compare_tab", "audit_tab", "runs_tab"):
        assert (ROOT / "ui" / tab / "page.py").exists() and (ROOT / "ui" / tab / "handlers.py").exists()


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The scan itself: an import inside a function is found too."""
    f = tmp_path / "x.py"
    f.write_text("def f():\n    import gradio as gr\n    from ui.compare_tab import RESULTS\n")
    assert {"gradio", "ui.compare_tab", "ui.compare_tab.RESULTS"} <= imported(f)


def test_no_file_over_400_lines_outside_the_tests() -> None:
    """Small files with one job each; app.py, which only composes the tabs, under 200 lines."""
    long = {
        str(p.relative_to(ROOT))
        for folder in ("unlearn", "ui", "viz", "scripts", "docs")
        for p in (ROOT / folder).rglob("*.py")
        if len(p.read_text().splitlines()) > 400
    }
    assert long == set()
    assert len((ROOT / "app.py").read_text().splitlines()) < 200
