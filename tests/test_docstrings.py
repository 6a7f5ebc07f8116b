"""The worked examples in the docstrings of `unlearn/` and `viz/` are run, so they stay true
(the PrivLeak, Min-K%, RTN and utility examples among them are the formulas worked by hand)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import unlearn
import viz

MODULES = [m.name for pkg in (unlearn, viz) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + ".")]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} fail"
