"""Handlers with named inputs and outputs (ui/forms.py): a form declares the order once, the page wires
components by name, Gradio and API callers still pass positional values in that order."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import gradio as gr
import pytest

from ui.audit_tab.handlers import VIEWS, AuditForm
from ui.compare_tab.handlers import SLOTS, CompareForm
from ui.forms import field_names, inputs, ordered, slots, takes
from ui.unlearn_tab.handlers import RunForm


@dataclasses.dataclass
class Pair:
    first: Any
    second: Any


@takes(Pair)
def joined(p: Pair, request: gr.Request, progress: Any = None) -> str:
    return f"{p.first}+{p.second}:{getattr(request, 'session_hash', None)}"


@takes(Pair)
def streamed(p: Pair, request: gr.Request):
    yield p.first
    yield p.second


def test_a_form_handler_takes_positional_values_and_sees_named_ones() -> None:
    req = type("R", (), {"session_hash": "s"})()
    assert joined(1, 2, req) == "1+2:s"
    assert joined(1, second=2, request=req) == "1+2:s"
    params = inspect.signature(joined).parameters
    assert list(params) == ["first", "second", "request", "progress"]  # what Gradio reads for the API
    assert joined.__annotations__["request"] is gr.Request  # Gradio injects the request by this
    assert inspect.isgeneratorfunction(streamed) and list(streamed("a", "b", req)) == ["a", "b"]
    with pytest.raises(TypeError, match="second"):
        joined(1)


def test_components_must_match_the_declared_names() -> None:
    assert inputs(Pair, {"second": "B", "first": "A"}) == ["A", "B"]  # the form's order, not the dict's
    with pytest.raises(KeyError, match=r"missing \['second'\], unexpected \['third'\]"):
        inputs(Pair, {"first": "A", "third": "C"})
    assert ordered(["x", "y"], {"y": 2, "x": 1}) == [1, 2]


def test_outputs_by_slot_name() -> None:
    out = slots(["note", "plot", "table"], note="hi", table=[1])
    assert out[0] == "hi" and out[2] == [1]
    assert out[1] == gr.skip()  # a slot not given stays as it is on the page
    with pytest.raises(KeyError, match="nope"):
        slots(["note"], nope=1)


@pytest.fixture(scope="module")
def api() -> dict[str, list[str]]:
    import app

    info = app.build_demo().get_api_info()["named_endpoints"]
    return {name: [p["parameter_name"] for p in v["parameters"]] for name, v in info.items()}


@pytest.mark.parametrize(("endpoint", "form"), [("/run", RunForm), ("/compare", CompareForm), ("/audit", AuditForm)])
def test_the_api_takes_the_forms_fields_in_order(api: dict[str, list[str]], endpoint: str, form: type) -> None:
    fields = field_names(form)
    assert fields[-1] == "user_sets"  # a gr.State: the session's own sets, never an API parameter
    assert api[endpoint] == fields[:-1]


def test_the_output_slots_are_unique() -> None:
    assert len(set(SLOTS)) == len(SLOTS) and len(set(VIEWS)) == len(VIEWS)


def test_the_page_has_the_six_tabs_and_nothing_between_them() -> None:
    """Each tab builds itself (ui/<tab>/page.py); a component a page put beside its tab inside gr.Tabs
    would show in the browser as another tab, with another tab's name. The five tabs of the work, then
    the guided demo."""
    import app

    demo = app.build_demo()
    tabs = next(b for b in demo.blocks.values() if isinstance(b, gr.Tabs))
    assert all(isinstance(c, gr.Tab) for c in tabs.children), [type(c).__name__ for c in tabs.children]
    assert [c.label for c in tabs.children] == ["Model & data", "Unlearn", "Compare", "Audit", "Runs", "Guided demo"]


def test_a_bound_handler_hides_the_server_from_gradio() -> None:
    from ui.forms import bind

    def handler(x: int, request: gr.Request, *, server: dict) -> str:
        return f"{x}:{server['name']}"

    bound = bind(handler, {"name": "s1"})
    assert bound(3, None) == "3:s1"
    assert list(inspect.signature(bound).parameters) == ["x", "request"]  # no "server" input or API parameter
    assert "server" not in bound.__annotations__ and bound.__annotations__["request"] is gr.Request
    with pytest.raises(TypeError, match="takes no server"):
        bind(lambda x: x, {})


def test_each_app_has_the_server_it_was_given() -> None:
    """The access policy is handed to build_demo, not a module global rebound at start-up: two apps
    in one process each follow their own (here: whether the trust-remote-code box shows)."""
    import app
    from unlearn.serve.access import AccessPolicy
    from unlearn.serve.server import Server

    def trust_box_shown(demo: gr.Blocks) -> bool:
        return next(b.visible for b in demo.blocks.values() if "Trust remote code" in str(getattr(b, "label", "")))

    assert trust_box_shown(app.build_demo(Server(AccessPolicy(allow_remote_code=True))))
    assert not trust_box_shown(app.build_demo(Server()))
