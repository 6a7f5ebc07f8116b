"""One user error type (unlearn/errors.py): the errors a user can fix derive from UserError, and the
handlers catch that instead of KeyError / TypeError, which would hide bugs behind a "clear" message."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from unlearn.data.formats import DataError
from unlearn.errors import UserError
from unlearn.model.checkpoint_diff import PairError
from unlearn.model.models import ModelLoadError
from unlearn.serve.access import AccessDenied

ROOT = Path(__file__).resolve().parents[1]
# where a file of another shape, a cleared box or text in a number box is the expected input (a saved
# audit redrawn, a slider, parsing a typed value into a UserError), the except says so on its line
DELIBERATE = "# an audit.json of another shape", "# a box cleared or out of range", "# parsing:"


@pytest.mark.parametrize("cls", [DataError, ModelLoadError, AccessDenied, PairError])
def test_every_user_error_is_one(cls: type) -> None:
    assert issubclass(cls, UserError) and issubclass(cls, ValueError)  # old `except ValueError` still catches
    assert issubclass(ModelLoadError, RuntimeError)  # and a model that fails to load stays a RuntimeError


def _caught(path: Path) -> list[tuple[int, str]]:
    """(line, exception name) for every name an `except` of the file catches."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ExceptHandler) and node.type is not None:
            names = node.type.elts if isinstance(node.type, ast.Tuple) else [node.type]
            out += [(node.lineno, n.id) for n in names if isinstance(n, ast.Name)]
    return out


def test_no_handler_catches_key_or_type_errors() -> None:
    found = []
    for path in sorted((ROOT / "ui").rglob("*.py")):
        lines = path.read_text().splitlines()
        for lineno, name in _caught(path):
            if name in ("KeyError", "TypeError") and not any(d in lines[lineno - 1] for d in DELIBERATE):
                found.append(f"{path.relative_to(ROOT)}:{lineno} catches {name}")
    assert found == []


def test_the_scan_sees_a_broad_except(tmp_path: Path) -> None:
    f = tmp_path / "h.py"
    f.write_text("try:\n    pass\nexcept (UserError, KeyError):\n    pass\n")
    assert _caught(f) == [(3, "UserError"), (3, "KeyError")]
