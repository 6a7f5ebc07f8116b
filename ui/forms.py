"""Handlers with named inputs and outputs. A form (a dataclass) declares a handler's inputs once: the
page wires its components by field name, Gradio and API callers pass one value per field in the
declared order (the API's parameter names are the field names), and the handler receives one typed
object instead of a long positional tuple whose order two files must agree on. Outputs are named the
same way: a handler returns {slot: value}, its module declares the slot order once."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import gradio as gr

Handler = TypeVar("Handler", bound=Callable[..., Any])


def field_names(form: type) -> list[str]:
    return [f.name for f in dataclasses.fields(form)]


def _rewired(
    handler: Callable[..., Any],
    adapt: Callable[[tuple, dict[str, Any]], tuple[tuple, dict[str, Any]]],
    params: list[inspect.Parameter],
) -> Callable[..., Any]:
    """`handler` called with `adapt(args, kwargs)`, shown to Gradio with `params` and their annotations
    (how it finds gr.Request and gr.Progress). A streaming handler stays a generator function: Gradio
    streams only what it sees as one."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def call(*args: Any, **kwargs: Any) -> Any:
            a, kw = adapt(args, kwargs)
            yield from handler(*a, **kw)

    else:

        @functools.wraps(handler)
        def call(*args: Any, **kwargs: Any) -> Any:
            a, kw = adapt(args, kwargs)
            return handler(*a, **kw)

    del call.__wrapped__  # Gradio must see `params`, not the handler's own signature
    hints = typing.get_type_hints(handler)
    call.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    call.__annotations__ = {p.name: hints[p.name] for p in params if p.name in hints}
    return call


def takes(form: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate `handler(values: form, *special)` into a function Gradio calls with one positional
    value per field of `form`, then the handler's own trailing parameters (gr.Request, gr.Progress),
    which Gradio still recognises by their annotations and defaults. Streaming handlers stay
    generators (Gradio streams only what it sees as a generator function)."""
    names = field_names(form)

    def wrap(handler: Callable[..., Any]) -> Callable[..., Any]:
        own = list(inspect.signature(handler).parameters.values())[1:]  # after the form

        def adapt(args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
            if len(args) < len(names) and not set(names) <= set(kwargs) | set(names[: len(args)]):
                missing = [n for n in names[len(args) :] if n not in kwargs]
                raise TypeError(f"{handler.__name__}: missing values for {', '.join(missing)}")
            given = dict(zip(names, args, strict=False)) | {n: kwargs.pop(n) for n in names if n in kwargs}
            return (form(**given), *args[len(names) :]), kwargs

        plain = inspect.Parameter.POSITIONAL_OR_KEYWORD
        return _rewired(handler, adapt, [inspect.Parameter(n, plain) for n in names] + own)

    return wrap


def ordered(names: Iterable[str], components: Mapping[str, Any]) -> list[Any]:
    """`components` in the declared order of `names`: a page that forgets or misnames one fails when
    the app is built, not when a user presses the button."""
    names = list(names)
    if set(names) != set(components):
        missing, extra = sorted(set(names) - set(components)), sorted(set(components) - set(names))
        raise KeyError(f"components do not match the declared names: missing {missing}, unexpected {extra}")
    return [components[n] for n in names]


def inputs(form: type, components: Mapping[str, Any]) -> list[Any]:
    return ordered(field_names(form), components)


def slots(names: Iterable[str], **values: Any) -> tuple:
    """A handler's outputs from {slot: value} in the declared slot order; slots not given stay as they are."""
    names = list(names)
    unknown = set(values) - set(names)
    if unknown:
        raise KeyError(f"no output slot named {sorted(unknown)}")
    return tuple(values.get(s, gr.skip()) for s in names)


def bind(handler: Callable[..., Any], server: Any) -> Callable[..., Any]:
    """`handler(..., *, server)` with this app's server given: what a page wires. Gradio sees the
    handler's own parameters (the server is no input and no API parameter) and its annotations, so
    it still injects gr.Request and gr.Progress; a streaming handler stays a generator function."""
    sig = inspect.signature(handler)
    if "server" not in sig.parameters:
        raise TypeError(f"{handler.__name__} takes no server: wire it as it is")
    params = [p for n, p in sig.parameters.items() if n != "server"]
    return _rewired(handler, lambda args, kwargs: (args, {**kwargs, "server": server}), params)
