"""The server's command line: flags, the access policy and launch() settings they give."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from typing import Any

import gradio as gr

from ui.common import KEPT_RESULTS
from unlearn.model.models import BUNDLED
from unlearn.serve.access import AccessDenied, AccessPolicy, parse_auth


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description="Unlearning Inspector web app")
    ap.add_argument("--model", default=os.environ.get("UNLEARN_MODEL", BUNDLED), help="model to load at start")
    ap.add_argument("--device", default=None, help="auto (default), cuda, mps or cpu")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    ap.add_argument("--no-model", action="store_true", help="start without loading a model")
    ap.add_argument(
        "--public",
        action="store_true",
        help="a shared deployment: requires --auth, loads models only from the allow-list (--allow-model)",
    )
    ap.add_argument(
        "--auth",
        action="append",
        default=[a for a in os.environ.get("UNLEARN_AUTH", "").split(",") if a],
        help="USER:PASSWORD (repeatable; or UNLEARN_AUTH=u1:p1,u2:p2)",
    )
    ap.add_argument("--allow-model", action="append", default=[], help="public mode: a hub id or folder (repeatable)")
    ap.add_argument(
        "--operator",
        action="append",
        default=[],
        help="an --auth user who may load models, teach, run, undo and switch or delete runs (repeatable); "
        "when given, everyone else may only ask, compare and audit the run on the model",
    )
    ap.add_argument("--allow-remote-code", action="store_true", help="offer 'trust remote code' (not with --public)")
    ap.add_argument("--max-file-size", default="50mb", help="upload limit (default 50mb)")
    ap.add_argument(
        "--kept-results",
        type=int,
        default=KEPT_RESULTS,
        help=f"sessions whose comparison arrays the server keeps for redrawing panels, a few MB each "
        f"(default {KEPT_RESULTS}; older ones are asked to press Compare again)",
    )
    return ap.parse_args(argv)


def server_settings(args: argparse.Namespace) -> tuple[AccessPolicy, dict[str, Any]]:
    """The access policy and launch() keywords from the command line; AccessDenied says what is wrong."""
    auth = parse_auth(args.auth)
    if args.public and not auth:
        raise AccessDenied(
            "--public needs --auth USER:PASSWORD (or UNLEARN_AUTH): a shared server must ask who is there"
        )
    policy = AccessPolicy.from_allow_list(args.allow_model, args.public, args.allow_remote_code)
    strangers = sorted(set(args.operator) - {user for user, _ in auth})
    if strangers:
        raise AccessDenied(f"--operator {strangers[0]!r} is not one of the --auth users: give it a password there")
    policy = replace(policy, operators=frozenset(args.operator))
    if args.public and args.model not in ("", BUNDLED):
        policy.check_model(args.model)  # the start-up model must be on the list too
    launch = dict(
        server_name=args.host,
        server_port=args.port,
        max_file_size=args.max_file_size,
        auth=auth or None,
        theme=gr.themes.Soft(),
        show_error=True,
    )
    return policy, launch
