"""Each user-facing setting declared once: its label, help, bounds and starting value live in the
dataclass field (`setting(...)`), and the command line's flags (`add_flags`) and the app's widgets
(ui/widgets.py) are made from that declaration, so the two cannot drift apart. No gradio here.

    @dataclass
    class LoopConfig:
        steps: int = setting(0, "Steps", "optimizer steps; 0 = derive from epochs", lo=0, start=12)
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from dataclasses import MISSING, dataclass
from typing import Any

from unlearn.errors import UserError


@dataclass(frozen=True)
class Setting:
    name: str  # the field's name
    kind: type  # int, float, bool or str (what a flag parses and a widget holds)
    default: Any  # the dataclass default (what code that builds the config gets)
    label: str  # the widget's label
    help: str  # the flag's help and the widget's info line
    start: Any  # the value a person starts with in the app and on the command line
    flag: str  # the command-line flag
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None

    @property
    def flag_help(self) -> str:
        """The flag's help: the app's label, then the help line (the same words in both places)."""
        return f"{self.label}: {self.help}"

    @property
    def dest(self) -> str:
        """The flag's attribute on the parsed arguments (--gu: args.gu)."""
        return self.flag.lstrip("-").replace("-", "_")

    def in_bounds(self, value: Any) -> bool:
        return (self.lo is None or value >= self.lo) and (self.hi is None or value <= self.hi)


def setting(
    default: Any,
    label: str,
    help: str,  # noqa: A002 (argparse's word)
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple[str, ...] | None = None,
    flag: str | None = None,
    start: Any = MISSING,
) -> Any:
    """A dataclass field carrying its declaration; `start` when the app and the command line begin
    elsewhere than the dataclass default (a run starts at 12 steps, a LoopConfig() at 0: epochs)."""
    meta = {"label": label, "help": help, "lo": lo, "hi": hi, "choices": choices, "flag": flag, "start": start}
    return dataclasses.field(default=default, metadata={"setting": meta})


def _kind(hint: Any) -> type:
    """int from `int`, float from `float | None`, ..."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if args else hint
    return base if base in (int, float, bool, str) else str


def declared(cls: type) -> dict[str, Setting]:
    """Every declared setting of a dataclass, by field name, in field order."""
    hints = typing.get_type_hints(cls)
    out: dict[str, Setting] = {}
    for f in dataclasses.fields(cls):
        meta = f.metadata.get("setting")
        if meta is None:
            continue
        start = f.default if meta["start"] is MISSING else meta["start"]
        flag = meta["flag"] or "--" + f.name.replace("_", "-")
        out[f.name] = Setting(
            f.name, _kind(hints[f.name]), f.default, meta["label"], meta["help"], start, flag,
            meta["lo"], meta["hi"], meta["choices"],
        )  # fmt: skip
    return out


def declaration(cls: type, name: str) -> Setting:
    try:
        return declared(cls)[name]
    except KeyError:
        raise KeyError(f"{cls.__name__}.{name} is not a declared setting") from None


def add_flags(parser: argparse.ArgumentParser, cls: type, names: list[str], **starts: Any) -> None:
    """One flag per named setting of `cls`: its help, type, choices and starting value (`starts`
    overrides one where this command begins elsewhere, e.g. --lr None: the method's own)."""
    for name in names:
        s = declaration(cls, name)
        start = starts.get(name, s.start)
        if s.kind is bool:
            parser.add_argument(
                s.flag, dest=s.dest, action="store_true", default=bool(start), help=_escaped(s.flag_help)
            )
            continue
        parser.add_argument(
            s.flag, dest=s.dest, type=s.kind, default=start, choices=s.choices, help=_escaped(s.flag_help)
        )


def _escaped(text: str) -> str:
    return text.replace("%", "%%")  # argparse formats help with %


def check_bounds(obj: Any) -> None:
    """Every declared setting of `obj` within its bounds, or a ValueError naming the setting."""
    for name, s in declared(type(obj)).items():
        value = getattr(obj, name)
        if value is None or s.kind not in (int, float) or s.in_bounds(value):
            continue
        lo = "" if s.lo is None else f"at least {s.lo:g}"
        hi = "" if s.hi is None else f"at most {s.hi:g}"
        raise UserError(f"{s.label} must be {' and '.join(x for x in (lo, hi) if x)}, got {value}")
