"""Command line: `python -m unlearn {info,datasets,check-data,teach} ...`.

With --json the last line printed is one JSON object, for scripts and checks.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .builtin import BUILTIN_FILES, KNOWLEDGE_NOTES, load_builtin, load_selection
from .models import BUNDLED, ModelLoadError, load_model
from .teach import TeachConfig


def _emit(obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj))
    else:
        for k, v in obj.items():
            print(f"{k}: {v}")


def cmd_info(a: argparse.Namespace) -> int:
    lm = load_model(a.model, device=a.device, trust_remote_code=a.trust_remote_code)
    _emit(lm.info(), a.json)
    return 0


def cmd_datasets(a: argparse.Namespace) -> int:
    sets = []
    for name in BUILTIN_FILES:
        ds = load_builtin(name)
        subsets = {s: len(ds.subset(s)) for s in ds.subsets()}
        sets.append({"name": name, "title": ds.title, "items": len(ds), "knowledge": ds.knowledge, "subsets": subsets})
    if a.json:
        print(json.dumps({"datasets": sets}))
        return 0
    for s in sets:
        subs = ", ".join(f"{k} {v}" for k, v in s["subsets"].items())
        print(f"{s['name']:<20} {s['items']:>4} items  {KNOWLEDGE_NOTES[s['knowledge']]}  [{subs}]")
    return 0


def cmd_check_data(a: argparse.Namespace) -> int:
    from .knowledge import refresh_builtin_checks

    lm = load_model(a.model, device=a.device)
    summary = refresh_builtin_checks(lm, write=a.write)
    _emit({"model": lm.name, "written": a.write, **summary}, a.json)
    return 0


def cmd_teach(a: argparse.Namespace) -> int:
    from .teach import teach

    lm = load_model(a.model, device=a.device)
    examples = [e for sel in a.sets for e in load_selection(sel).examples]
    cfg = TeachConfig(epochs=a.epochs, lr=a.lr, batch_size=a.batch_size, seed=a.seed, replay=a.replay or None)

    def show(frac: float, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    taught = teach(lm, examples, "+".join(a.sets), cfg, progress=show)
    _emit({"model_dir": taught.path, **taught.taught}, a.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unlearn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--model", default=BUNDLED, help="'bundled', a hub id, a model folder or a .gguf file")
        sp.add_argument("--device", default=None, help="auto (default), cuda, mps or cpu")
        sp.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    sp = sub.add_parser("info", help="load a model and print its card")
    model_args(sp)
    sp.add_argument("--trust-remote-code", action="store_true", help="run code shipped with a hub model")
    sp.set_defaults(fn=cmd_info)

    sp = sub.add_parser("datasets", help="list the built-in sets and their sizes")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_datasets)

    sp = sub.add_parser("check-data", help="record what the model knows of each built-in set")
    model_args(sp)
    sp.add_argument("--write", action="store_true", help="write the results into assets/")
    sp.set_defaults(fn=cmd_check_data)

    sp = sub.add_parser("teach", help="fine-tune the model on sets (cached) so it knows them")
    model_args(sp)
    sp.add_argument("--sets", nargs="+", default=["fictitious_authors:forget", "fictitious_authors:retain"])
    d = TeachConfig()
    sp.add_argument("--epochs", type=float, default=d.epochs, help="passes over the taught + replay items")
    sp.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    sp.add_argument("--batch-size", type=int, default=d.batch_size)
    sp.add_argument("--seed", type=int, default=d.seed)
    sp.add_argument("--replay", default=d.replay, help="set mixed in to keep general knowledge ('' for none)")
    sp.set_defaults(fn=cmd_teach)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
