"""Security defaults: what a private and a public server may load, and how the server is started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import app
from unlearn.model.models import BUNDLED
from unlearn.serve.access import AccessDenied, AccessPolicy, parse_auth
from unlearn.serve.store import STORE

from . import tabs


def test_a_private_server_loads_anything_but_remote_code_needs_the_flag(tmp_path: Path) -> None:
    private = AccessPolicy()
    private.check_model(str(tmp_path))
    private.check_model("org/any-model")
    with pytest.raises(AccessDenied, match="--allow-remote-code"):
        private.check_model("org/any-model", trust_remote_code=True)
    AccessPolicy(allow_remote_code=True).check_model("org/any-model", trust_remote_code=True)


def test_a_public_server_loads_only_the_allow_list(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_CACHE_DIR", str(tmp_path / "cache"))
    allowed, other = tmp_path / "models", tmp_path / "elsewhere"
    (allowed / "m1").mkdir(parents=True)
    other.mkdir()
    (allowed / "escape").symlink_to(other)
    pol = AccessPolicy.from_allow_list([str(allowed), "org/ok"], public=True)
    for ref in (BUNDLED, "", "org/ok", str(allowed / "m1"), str(tmp_path / "cache")):
        pol.check_model(ref)
    refused = ["org/other", str(other), str(allowed / "m1" / ".." / ".." / "elsewhere"), str(allowed / "escape")]
    refused += ["/etc", "/no/such/folder", "~/.ssh"]
    for ref in refused:
        with pytest.raises(AccessDenied, match="not on its list"):
            pol.check_model(ref)
    with pytest.raises(AccessDenied):
        pol.check_model("org/ok", trust_remote_code=True)
    with pytest.raises(AccessDenied, match="neither an existing folder"):
        AccessPolicy.from_allow_list(["./missing"], public=True)
    with pytest.raises(AccessDenied, match="cannot be used with --public"):
        AccessPolicy.from_allow_list([], public=True, allow_remote_code=True)


def test_public_runs_only_from_the_runs_folder(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    pol = AccessPolicy(public=True)
    pol.check_run(str(tmp_path / "runs" / "20260101-000000-npo"))
    for bad in (str(tmp_path), "/etc", str(tmp_path / "runs" / "x" / "..")):
        with pytest.raises(AccessDenied, match="saved runs"):
            pol.check_run(bad)
    AccessPolicy().check_run("/anywhere")  # a private server's user owns the machine


def test_server_settings_bind_locally_and_public_mode_needs_auth(monkeypatch) -> None:
    monkeypatch.delenv("UNLEARN_AUTH", raising=False)
    policy, launch = app.server_settings(app.parse_args(["--no-model"]))
    assert launch["server_name"] == "127.0.0.1" and launch["auth"] is None and not policy.public
    assert launch["max_file_size"] == "50mb"
    with pytest.raises(AccessDenied, match="--auth"):
        app.server_settings(app.parse_args(["--public"]))
    policy, launch = app.server_settings(
        app.parse_args(["--public", "--auth", "teacher:s3cret", "--allow-model", "a/b"])
    )
    assert policy.public and launch["auth"] == [("teacher", "s3cret")] and policy.model_ids == {"a/b"}
    with pytest.raises(AccessDenied, match="not on its list"):
        app.server_settings(app.parse_args(["--public", "--auth", "t:p", "--model", "/etc"]))
    with pytest.raises(AccessDenied, match="USER:PASSWORD"):
        parse_auth(["nopassword"])
    monkeypatch.setenv("UNLEARN_AUTH", "u1:p1,u2:p2")
    assert app.server_settings(app.parse_args(["--public"]))[1]["auth"] == [("u1", "p1"), ("u2", "p2")]
    policy, _ = app.server_settings(app.parse_args(["--public", "--operator", "u1"]))
    assert policy.operators == {"u1"}
    with pytest.raises(AccessDenied, match="not one of the --auth users"):
        app.server_settings(app.parse_args(["--public", "--operator", "someone"]))


def test_the_app_refuses_what_the_policy_refuses_and_keeps_the_model(tiny_dir, tmp_path, monkeypatch) -> None:
    from unlearn.model.models import load_model

    STORE.replace(load_model(str(tiny_dir), device="cpu"))
    monkeypatch.setattr(tabs.SERVER, "access", AccessPolicy(public=True))
    card, msg = tabs.load_model_ui("Local folder (save_pretrained)", str(tiny_dir), "cpu", False, lambda *a, **k: None)
    assert msg.startswith("❌") and "not on its list" in msg and "still in use" in msg
    assert STORE.current().source.ref == str(Path(tiny_dir).resolve())
    with pytest.raises(AccessDenied):
        tabs.activate_run(os.fspath(tmp_path))
    demo = app.build_demo(tabs.SERVER)  # no "trust remote code" box unless the server allows it
    trust = [c for c in demo.config["components"] if "Trust remote code" in str(c.get("props", {}).get("label"))]
    assert trust and trust[0]["props"]["visible"] is False


def test_an_upload_over_the_limit_is_refused_and_the_server_stays_up(tiny_dir, tmp_path) -> None:
    from gradio_client import Client, handle_file

    from .browser import app_in_process

    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_text('{"question": "Who is Ada?", "answer": "Ada is a test."}\n')
    big.write_text('{"question": "Who is Ada?", "answer": "Ada is a test."}\n' * 200)  # ~11 kB
    env = {"UNLEARN_CACHE_DIR": str(tmp_path / "cache")}
    with app_in_process(str(tiny_dir), env, args=["--max-file-size", "4kb"]) as (url, _):
        c = Client(url, verbose=False)
        args = ["auto", "", "question", "answer", tabs.NONE, "forget"]
        with pytest.raises(Exception, match="(?i)size|large|exceed"):
            c.predict(handle_file(str(big)), *args, api_name="/add_upload")
        got = c.predict(handle_file(str(small)), *args, api_name="/add_upload")
        assert got[-1].startswith("✅"), got


def test_a_public_server_takes_datasets_from_the_hub_only_and_runs_from_its_folder(tmp_path, monkeypatch) -> None:
    """datasets.load_dataset also reads local folders and files: in public mode only 'org/name' ids."""
    public, private = AccessPolicy(public=True), AccessPolicy()
    for ref in ["/etc", str(tmp_path), "../../etc", "~/data", "csv", "json", "org/../../etc", "a\\b/c", ""]:
        with pytest.raises(AccessDenied, match="hub only"):
            public.check_dataset(ref)
    public.check_dataset("locuslab/TOFU")
    private.check_dataset(str(tmp_path))  # a private server's user may read their own disk
    monkeypatch.setenv("UNLEARN_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(tabs.SERVER, "access", public)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "run.json").write_text('{"id": "x"}')
    msg = tabs.runs_export_ui(str(outside), type("R", (), {"session_hash": "k"})())[0]
    assert msg.startswith("❌") and "not one of this server's saved runs" in msg


def test_a_public_server_asks_for_a_login_and_refuses_what_is_not_listed(tiny_dir, tmp_path) -> None:
    """The flags end to end: --public with --auth, --operator and --allow-model, through gradio_client."""
    from gradio_client import Client

    from .browser import app_in_process
    from .sessions import run_args

    env = {"UNLEARN_CACHE_DIR": str(tmp_path / "cache")}
    args = ["--public", "--auth", "teacher:s3cret", "--auth", "student:pw", "--operator", "teacher"]
    args += ["--allow-model", str(tiny_dir)]
    with app_in_process(str(tiny_dir), env, args=args) as (url, _):
        with pytest.raises(Exception):  # noqa: B017 -- the client's error type for a refused login varies
            Client(url, verbose=False)
        with pytest.raises(Exception):  # noqa: B017
            Client(url, auth=("teacher", "wrong"), verbose=False)
        c = Client(url, auth=("teacher", "s3cret"), verbose=False)
        local = "Local folder (save_pretrained)"
        card, msg = c.predict(local, str(tmp_path), "cpu", False, api_name="/load_model")
        assert msg.startswith("❌") and "not on its list" in msg
        card, msg = c.predict(local, str(tiny_dir), "cpu", False, api_name="/load_model")
        assert msg.startswith("✅"), msg
        *_, msg = c.predict("/etc", "", "train", 10, "forget", api_name="/load_hub")
        assert "hub only" in msg
        s = Client(url, auth=("student", "pw"), verbose=False)
        card, msg = s.predict(local, str(tiny_dir), "cpu", False, api_name="/load_model")
        assert msg.startswith("❌") and "Only this server's operators (teacher)" in msg
        assert "Only this server's operators" in s.predict(*run_args(s, 2), api_name="/run")[0]
        assert isinstance(s.predict("Who wrote Harry Potter?", 8, api_name="/ask"), str)


def test_with_operators_named_only_they_change_the_shared_model(app_tiny, monkeypatch) -> None:
    """--operator: the others may ask, compare and audit the run on the model, not replace it."""
    from types import SimpleNamespace

    from .test_app_unlearn import _run

    monkeypatch.setattr(tabs.SERVER, "access", AccessPolicy(public=True, operators=frozenset({"teacher"})))
    student, teacher = SimpleNamespace(username="student"), SimpleNamespace(username="teacher")
    only = "Only this server's operators (teacher)"
    updates = list(_run(request=student))
    assert len(updates) == 1 and updates[0][0].startswith("❌") and only in updates[0][0]
    assert STORE.active_run() is None
    assert list(_run(request=teacher))[-1][0].startswith("✅")
    first = STORE.active_run().run_dir
    assert list(_run(request=teacher))[-1][0].startswith("✅")
    second = STORE.active_run().run_dir
    loaded = STORE.current()
    msg = tabs.load_model_ui("Bundled SmolLM2-135M-Instruct", "", "cpu", False, lambda *a, **k: None, student)[1]
    assert only in msg and STORE.current() is loaded
    assert only in tabs.teach_ui("harry_potter:known", tabs.NONE, 1, {}, lambda *a, **k: None, student)[1]
    assert only in tabs.reset_ui(student) and only in tabs.load_run_ui(first, student)
    assert only in tabs.delete_run_ui(first, student)[0] and only in tabs.runs_delete_ui(first, student)[0]
    assert STORE.active_run().run_dir == second, "the run everyone sees is still the teacher's last one"
    assert tabs.load_run_ui(second, student).startswith("✅")  # the run already on the model: nothing changes
    assert list(tabs.ask_ui("Who wrote the Harry Potter books?", 8))[-1]
    assert tabs.reset_ui(teacher).startswith("The model is back")
