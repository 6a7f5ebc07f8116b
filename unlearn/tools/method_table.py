"""The README's method table, generated from `python -m unlearn methods --json` so it cannot drift.

    python -m unlearn.tools.method_table            # print the table
    python -m unlearn.tools.method_table --write    # rewrite README.md between the marker comments
    python -m unlearn.tools.method_table --check    # exit 1 when README.md's table is out of date

`--from FILE` renders a saved `methods --json` output instead of the methods registered now.
tests/test_method_table.py fails, naming the command, when a method is added without regenerating.
Prose the JSON does not carry (why a method is a reconstruction, the options any method takes) stays
outside the markers.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

START = "<!-- methods:start -->"
END = "<!-- methods:end -->"
REGENERATE = "python -m unlearn.tools.method_table --write"
README = Path(__file__).resolve().parents[2] / "README.md"
COLUMNS = (
    "method",
    "what it does",
    "paper",
    "algorithm",
    "trains (default mode)",
    "needs",
    "lr quick / paper",
    "hyperparameters: quick / paper (where it differs)",
)


def methods_json() -> dict[str, Any]:
    """What `python -m unlearn methods --json` prints, taken from the command's own function."""
    from unlearn.cli.runs_audits import cmd_methods

    out = io.StringIO()
    with redirect_stdout(out):
        cmd_methods(argparse.Namespace(json=True))
    return json.loads(out.getvalue())


def fmt(value: Any) -> str:
    """One value as the table writes it: small numbers in short e-notation, JSON's true/false.

    >>> [fmt(v) for v in (0.0015, 1e-05, 0.01, 10.0, 3, True, "nll", None)]
    ['1.5e-3', '1e-5', '0.01', '10', '3', 'true', 'nll', '–']
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and 0 < abs(value) < 0.01:
        mantissa, exponent = f"{value:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell (a `|` would end the cell)."""
    return " ".join(text.split()).replace("|", "\\|")


def hyperparameters(params: Sequence[dict[str, Any]]) -> str:
    """`name` quick, with ` / paper` where the paper's default differs.

    >>> hyperparameters([{"name": "alpha", "quick": 10.0, "paper": 1.0}, {"name": "beta", "quick": 0.1, "paper": 0.1}])
    '`alpha` 10 / 1, `beta` 0.1'
    """
    parts = []
    for p in params:
        paper = "" if p.get("paper") == p.get("quick") else f" / {fmt(p.get('paper'))}"
        parts.append(f"`{p['name']}` {fmt(p.get('quick'))}{paper}")
    return ", ".join(parts) or "–"


def needs(m: dict[str, Any]) -> str:
    """The sets a method needs: `forget`, with ` + retain` and ` + refusals` where it needs them."""
    return " + ".join(
        s
        for s, on in (("forget", True), ("retain", m.get("needs_retain")), ("refusals", m.get("needs_refusals")))
        if on
    )


def row(m: dict[str, Any]) -> str:
    algorithm = "faithful" if m["faithful"] else "**reconstruction**"
    cells = [
        f"{m['name']} (`{m['id']}`)",
        m.get("summary", ""),
        m.get("paper", ""),
        algorithm,
        f"`{m.get('default_mode', 'lora')}`: {m.get('parameters_trained', '')}",
        needs(m),
        "– (no optimizer)" if m.get("training_free") else f"{fmt(m.get('lr'))} / {fmt(m.get('paper_lr'))}",
        hyperparameters(m.get("hyperparameters", [])),
    ]
    return "| " + " | ".join(cell(c) for c in cells) + " |"


def render(data: dict[str, Any]) -> str:
    """The Markdown block (without the markers) for the output of `methods --json`."""
    methods = sorted(data["methods"], key=lambda m: m["id"])
    rebuilt = sum(not m["faithful"] for m in methods)
    lines = [
        f"{len(methods)} methods ({rebuilt} of them reconstructions), as `python -m unlearn methods --json` gives "
        f"them; generated, do not edit by hand: `{REGENERATE}`.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *(row(m) for m in methods),
    ]
    return "\n".join(lines) + "\n"


def block(text: str) -> str:
    """What stands between the markers of `text` (raises ValueError without both markers)."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"no {START} ... {END} block")
    return text[start + len(START) : end].strip("\n") + "\n"


def replace_block(text: str, table: str) -> str:
    """`text` with the block between the markers replaced by `table`."""
    block(text)  # both markers there, in order
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{START}\n{table.rstrip()}\n{END}{tail}"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m unlearn.tools.method_table", description=__doc__.splitlines()[0])
    ap.add_argument("--from", dest="source", help="a saved `python -m unlearn methods --json` output")
    ap.add_argument("--readme", default=str(README), help="the file holding the marker comments")
    act = ap.add_mutually_exclusive_group()
    act.add_argument("--write", action="store_true", help="rewrite the block between the markers")
    act.add_argument("--check", action="store_true", help="exit 1 when the block differs")
    a = ap.parse_args(argv)
    data = json.loads(Path(a.source).read_text()) if a.source else methods_json()
    table = render(data)
    if not (a.write or a.check):
        print(table, end="")
        return 0
    path = Path(a.readme)
    text = path.read_text()
    if a.check:
        if block(text) == table:
            return 0
        print(f"{path}: the method table is out of date; run `{REGENERATE}`", file=sys.stderr)
        return 1
    path.write_text(replace_block(text, table))
    print(f"wrote the method table ({len(data['methods'])} methods) into {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
