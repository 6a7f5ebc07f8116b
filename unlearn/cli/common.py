"""What the commands share: printing results, and reading options handed on to Ray tasks."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

RAY_HELP = (
    "run each entry as a task on a Ray cluster (one GPU each where it has GPUs); ADDRESS as ray.init takes it, "
    "'auto' for the cluster this machine is in, none for a local one"
)


def emit(obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj))
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")


def to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def without(argv: list[str], flag: str, takes_value: str) -> list[str]:
    """`argv` less `flag` and its value, as argparse read them (`takes_value`: "yes", or "maybe" for
    nargs="?", whose value is the next word unless it is another option)."""
    out, skip = [], False
    for i, word in enumerate(argv):
        if skip:
            skip = False
            continue
        if word == flag:
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            skip = nxt is not None and (takes_value == "yes" or not nxt.startswith("-"))
            continue
        if not word.startswith(flag + "="):
            out.append(word)
    return out


def hparam(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if not key or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value
