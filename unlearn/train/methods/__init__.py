"""Unlearning methods, one file each. Every module here but the shared ones is imported at start-up,
which registers its method (`@register`): a new file is a new method, nothing else to edit. A module
that registers nothing is an error (`discover`), so a forgotten decorator cannot go unnoticed."""

from __future__ import annotations

import importlib
import pkgutil

from unlearn.train.methods.registry import (
    METHODS,
    Context,
    EditMethod,
    Method,
    MethodInfo,
    StepBatch,
    config_for,
    describe,
    get_method,
)

SHARED = {"registry", "common"}  # modules that hold what the methods share, no method of their own


def discover(path: list[str] | None = None, package: str = __name__) -> dict[str, list[str]]:
    """Import every method module of `package` (this one by default); returns each one's registered
    ids. Raises when one registers none."""
    found: dict[str, list[str]] = {}
    for info in sorted(pkgutil.iter_modules(path if path is not None else __path__), key=lambda m: m.name):
        if info.name in SHARED or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        found[info.name] = [m for m, cls in METHODS.items() if cls.__module__ == module.__name__]
        if not found[info.name]:
            raise ImportError(f"{module.__name__} registers no method: decorate its Method class with @register")
    return found


MODULES = discover()

__all__ = [
    "METHODS",
    "MODULES",
    "Context",
    "EditMethod",
    "Method",
    "MethodInfo",
    "StepBatch",
    "config_for",
    "describe",
    "get_method",
]
