"""The README's method table is generated from `python -m unlearn methods --json`
(unlearn/tools/method_table.py): a method added without regenerating the table fails here, with the
command to run; and the generator renders a fixed input as it should."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unlearn.tools.method_table import END, README, REGENERATE, START, block, main, methods_json, render, replace_block

FIXED = {
    "methods": [
        {
            "id": "zz_rebuilt",
            "name": "Rebuilt",
            "paper": "Author et al. 2025 | a pipe (arXiv 0000.00000)",
            "summary": "Pushes the forget answers\n  down.",
            "faithful": False,
            "needs_retain": True,
            "needs_refusals": True,
            "training_free": False,
            "lr": 0.0015,
            "paper_lr": 1e-05,
            "parameters_trained": "LoRA (default) or full",
            "default_mode": "lora",
            "hyperparameters": [
                {"name": "alpha", "quick": 10.0, "paper": 1.0, "help": "retain weight"},
                {"name": "beta", "quick": 0.1, "paper": 0.1, "help": "inverse temperature"},
                {"name": "c_relative", "quick": True, "paper": False, "help": "c relative to the norm"},
                {"name": "retain_loss", "quick": "nll", "paper": "nll", "help": "nll or kl"},
            ],
        },
        {
            "id": "aa_edit",
            "name": "Edit",
            "paper": "Editor 2026",
            "summary": "Edits neurons once.",
            "faithful": True,
            "needs_retain": False,
            "needs_refusals": False,
            "training_free": True,
            "lr": 0.0001,
            "paper_lr": 1e-05,
            "parameters_trained": "the MLP down_proj weights of every layer, edited in place (no training)",
            "default_mode": "subset",
            "hyperparameters": [],
        },
    ]
}


def test_the_readme_table_is_the_generated_one() -> None:
    data = methods_json()
    current = block(README.read_text())
    assert current == render(data), f"README.md's method table is out of date: run `{REGENERATE}`"


def test_the_json_is_the_command_line_s_own() -> None:
    from unlearn.train.methods import METHODS

    data = methods_json()
    assert [m["id"] for m in data["methods"]] == sorted(METHODS)
    assert {"faithful", "default_mode", "hyperparameters", "paper", "lr", "paper_lr"} <= set(data["methods"][0])


def test_a_fixed_input_renders_flags_and_values() -> None:
    lines = render(FIXED).splitlines()
    assert lines[0].startswith("2 methods (1 of them reconstructions)") and REGENERATE in lines[0]
    assert lines[2].startswith("| method | what it does | paper | algorithm |")
    edit, rebuilt = lines[4:6]  # sorted by id
    assert edit == (
        "| Edit (`aa_edit`) | Edits neurons once. | Editor 2026 | faithful | `subset`: the MLP down_proj weights of"
        " every layer, edited in place (no training) | forget | – (no optimizer) | – |"
    )
    assert rebuilt == (
        "| Rebuilt (`zz_rebuilt`) | Pushes the forget answers down. | Author et al. 2025 \\| a pipe (arXiv 0000.00000)"
        " | **reconstruction** | `lora`: LoRA (default) or full | forget + retain + refusals | 1.5e-3 / 1e-5"
        " | `alpha` 10 / 1, `beta` 0.1, `c_relative` true / false, `retain_loss` nll |"
    )
    assert len(lines) == 6


def test_write_then_check_on_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "methods.json"
    src.write_text(json.dumps(FIXED))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n\n{START}\nold table\n{END}\n\nafter\n")
    args = ["--from", str(src), "--readme", str(readme)]
    assert main([*args, "--check"]) == 1
    assert REGENERATE in capsys.readouterr().err
    assert main([*args, "--write"]) == 0
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith(f"{END}\n\nafter\n")
    assert block(text) == render(FIXED) and "old table" not in text
    assert main([*args, "--check"]) == 0
    assert main(["--from", str(src)]) == 0
    assert capsys.readouterr().out.endswith(render(FIXED))


def test_a_file_without_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="methods:start"):
        replace_block("no markers here\n", render(FIXED))
    with pytest.raises(ValueError):
        block(f"{END}\n{START}\n")
