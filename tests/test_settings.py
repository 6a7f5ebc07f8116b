"""Each setting declared once (unlearn/settings.py): the command line's help and the app's labels and
info lines come from the same declaration, so `python -m unlearn run --help` and the Unlearn tab say
the same thing; a declaration changed in one place changes both."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import gradio as gr
import pytest

from unlearn.audit.pipeline import AuditConfig
from unlearn.audit.remind import RemindConfig
from unlearn.cli.parser import build_parser
from unlearn.data.teach import TeachConfig
from unlearn.settings import Setting, add_flags, check_bounds, declared, setting
from unlearn.train.engine import DEMO_STEPS, RunSpec
from unlearn.train.loop import LoopConfig

# command -> the declarations its flags are made from
CLI = {
    "run": [LoopConfig, RunSpec],
    "teach": [TeachConfig],
    "audit": [(AuditConfig, ["max_items", "probe_items", "surface_items"]), (RemindConfig, ["k"])],
}
# the settings the app shows as widgets (the rest are command-line only: epochs, eval_every, compile, ...)
APP = {
    LoopConfig: ["lr", "steps", "batch_size", "grad_accum", "warmup", "seed", "max_length"],
    RunSpec: ["lora_r", "low_memory", "project_retain", "coreset", "coreset_mode", "melu", "save_every"]
    + ["stop_forget", "keep_retain"],
    TeachConfig: ["epochs"],
    AuditConfig: ["max_items", "probe_items", "surface_items"],
    RemindConfig: ["p", "m", "k"],
}


def _actions(command: str) -> dict[str, argparse.Action]:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {opt: a for a in sub.choices[command]._actions for opt in a.option_strings}


def _cli_settings(command: str) -> list[Setting]:
    out: list[Setting] = []
    for entry in CLI[command]:
        cls, names = entry if isinstance(entry, tuple) else (entry, None)
        out += [s for n, s in declared(cls).items() if names is None or n in names]
    return out


@pytest.mark.parametrize("command", list(CLI))
def test_flags_say_what_the_declarations_say(command: str) -> None:
    actions = _actions(command)
    for s in _cli_settings(command):
        assert s.flag in actions, f"{command} has no {s.flag}"
        assert actions[s.flag].help.replace("%%", "%") == f"{s.label}: {s.help}"
        assert actions[s.flag].dest == s.dest


@pytest.fixture(scope="module")
def widgets() -> dict[str, list[gr.components.Component]]:
    import app

    by_label: dict[str, list[gr.components.Component]] = {}
    for block in app.build_demo().blocks.values():
        if getattr(block, "label", None):
            by_label.setdefault(block.label, []).append(block)
    return by_label


@pytest.mark.parametrize("cls", list(APP), ids=lambda c: c.__name__)
def test_widgets_say_what_the_flags_say(widgets: dict[str, list], cls: type) -> None:
    for name in APP[cls]:
        s = declared(cls)[name]
        shown = [w for w in widgets.get(s.label, []) if getattr(w, "info", None) == s.help]
        assert shown, f"{cls.__name__}.{name}: no widget labelled {s.label!r} with the declared help"
        w = shown[0]
        if isinstance(w, gr.Slider):
            assert (w.minimum, w.maximum) == (s.lo, s.hi)  # the bounds are the declared ones
        if name != "lr":  # the learning rate starts at the picked method's
            assert w.value == s.start, f"{cls.__name__}.{name}"


def test_the_run_starts_where_the_app_does() -> None:
    """The quick demo's steps and the flags' defaults come from the declaration's starting values."""
    args = build_parser().parse_args(["run"])
    assert args.steps == DEMO_STEPS == declared(LoopConfig)["steps"].start
    assert args.lr is None  # the method's own rate
    assert args.stop_forget is None and args.keep_retain is None  # off
    assert (args.gu, args.coreset, args.coreset_mode, args.melu) == (0, 1.0, "random", False)


@dataclass
class Toy:
    n: int = setting(3, "Count", "how many (5% more is fine)", lo=1, hi=9)
    on: bool = setting(False, "Switch", "turn it on", flag="--switch")
    kind: str = setting("a", "Kind", "which one", choices=("a", "b"))
    plain: float = 0.5  # not declared: no flag, no widget


def test_declarations_make_flags_and_check_bounds() -> None:
    p = argparse.ArgumentParser()
    add_flags(p, Toy, ["n", "on", "kind"], n=4)
    assert vars(p.parse_args([])) == {"n": 4, "switch": False, "kind": "a"}
    assert vars(p.parse_args(["--n", "7", "--switch", "--kind", "b"])) == {"n": 7, "switch": True, "kind": "b"}
    assert "5% more" in p.format_help()  # the % in a help text is escaped for argparse
    assert list(declared(Toy)) == ["n", "on", "kind"]
    check_bounds(Toy(n=9))
    with pytest.raises(ValueError, match="Count must be at least 1 and at most 9, got 12"):
        check_bounds(Toy(n=12))


def test_the_loop_checks_the_declared_bounds() -> None:
    hi = declared(LoopConfig)["batch_size"].hi
    LoopConfig(batch_size=int(hi)).validate()
    with pytest.raises(ValueError, match=f"batch size must be between 1 and {hi:g}, got {hi + 1:g}"):
        LoopConfig(batch_size=int(hi) + 1).validate()


def test_a_presets_learning_rate_is_ruled_in_one_place() -> None:
    """The quick/paper rule for the learning rate (MethodInfo.lr_for): what the app's Unlearn tab
    starts with and what `run` uses without --lr."""
    from tests import tabs
    from unlearn.train.methods import get_method

    info = get_method("npo").info
    assert (info.lr_for("quick"), info.lr_for("paper")) == (info.lr, info.paper_lr)
    assert tabs.on_method("npo", "Paper defaults")[2] == info.paper_lr
    assert RunSpec("npo", "paper").loop_config().lr == info.paper_lr
    with pytest.raises(ValueError, match="unknown preset"):
        info.lr_for("fast")
