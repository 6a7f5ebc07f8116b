"""The app's widgets for declared settings (unlearn/settings.py): label, info line, bounds and
starting value come from the declaration, the same one the command line's flags are made from
(`value=` starts a widget elsewhere, e.g. the learning rate at the picked method's)."""

from __future__ import annotations

from typing import Any

import gradio as gr

from unlearn.settings import declaration


def number(cls: type, name: str, **kw: Any) -> gr.Number:
    s = declaration(cls, name)
    precision = 0 if s.kind is int else None
    return gr.Number(kw.pop("value", s.start), label=s.label, info=s.help, precision=precision, **kw)


def slider(cls: type, name: str, step: float, **kw: Any) -> gr.Slider:
    s = declaration(cls, name)
    if s.lo is None or s.hi is None:
        raise ValueError(f"{cls.__name__}.{name} declares no bounds: a slider needs both")
    return gr.Slider(s.lo, s.hi, value=kw.pop("value", s.start), step=step, label=s.label, info=s.help, **kw)


def checkbox(cls: type, name: str, **kw: Any) -> gr.Checkbox:
    s = declaration(cls, name)
    return gr.Checkbox(kw.pop("value", bool(s.start)), label=s.label, info=s.help, **kw)


def radio(cls: type, name: str, **kw: Any) -> gr.Radio:
    s = declaration(cls, name)
    return gr.Radio(list(s.choices or ()), value=kw.pop("value", s.start), label=s.label, info=s.help, **kw)
