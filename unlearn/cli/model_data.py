"""The commands about the model and the sets: info, datasets, check-data, teach, import, export, bench."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unlearn.cli.common import emit
from unlearn.data.builtin import KNOWLEDGE_NOTES, builtin_names, load_builtin
from unlearn.data.set_refs import load_set
from unlearn.data.teach import TeachConfig
from unlearn.model.models import load_model


def cmd_info(a: argparse.Namespace) -> int:
    lm = load_model(a.model, device=a.device, trust_remote_code=a.trust_remote_code)
    emit(lm.info(), a.json)
    return 0


def cmd_datasets(a: argparse.Namespace) -> int:
    sets = []
    for name in builtin_names():
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
    from unlearn.data.knowledge import refresh_builtin_checks

    lm = load_model(a.model, device=a.device)
    summary = refresh_builtin_checks(lm, write=a.write)
    emit({"model": lm.name, "written": a.write, **summary}, a.json)
    return 0


def cmd_teach(a: argparse.Namespace) -> int:
    from unlearn.data.teach import teach

    lm = load_model(a.model, device=a.device)
    examples = [e for sel in a.sets for e in load_set(sel)]
    cfg = TeachConfig(epochs=a.epochs, lr=a.lr, batch_size=a.batch_size, seed=a.seed, replay=a.replay or None)

    def show(frac: float, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    taught = teach(lm, examples, "+".join(a.sets), cfg, progress=show)
    emit({"model_dir": taught.path, **taught.taught}, a.json)
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from unlearn.model.import_pair import import_checkpoint

    lm = load_model(a.model, device=a.device)  # before: the model the checkpoint was unlearned from
    run_dir = import_checkpoint(lm, a.after, a.name, Path(a.out) if a.out else None)
    record = json.loads((run_dir / "run.json").read_text())
    emit({"run_dir": str(run_dir), **record["after"]}, a.json)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from unlearn.model.export_run import export_run
    from unlearn.train.runs import split_ref

    run_dir, step = split_ref(a.run)
    record = json.loads((Path(run_dir) / "run.json").read_text())
    lm = load_model(a.model or record["model"]["ref"], device=a.device)
    out = export_run(lm, Path(run_dir), a.format, Path(a.out), step)
    files = sorted(p.name for p in out.iterdir())
    emit({"out": str(out), "format": a.format, "run": record["id"], "step": step, "files": files}, a.json)
    return 0


def cmd_bench(a: argparse.Namespace) -> int:
    if a.gpu:
        from unlearn.tools.bench_gpu import bench_gpu, summary

        shapes = tuple(a.shapes.split(",")) if a.shapes else None
        result = bench_gpu(a.device, shapes, log=lambda m: print(m, file=sys.stderr, flush=True))
        if a.json:
            print(json.dumps(result))
        else:
            print("\n".join(summary(result)))
        return 0
    if a.scaling:
        return _bench_scaling(a)
    if a.pairs:
        from unlearn.tools.bench_pairs import bench_pairs

        emit(bench_pairs(load_model(a.model, device=a.device)), a.json)
        return 0
    from unlearn.tools.bench import run_bench

    result = run_bench(a.model, device=a.device, quick=a.quick)
    if a.json:
        print(json.dumps(result))
    else:
        print("targets met: " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in result["met"].items()))
    return 0


def _bench_scaling(a: argparse.Namespace) -> int:
    from unlearn.model.paths import ASSETS
    from unlearn.tools.bench_scaling import run_scaling
    from viz.scaling import write_scaling

    def log(msg: str) -> None:  # progress on stderr, so --json leaves one object on stdout
        print(msg, file=sys.stderr if a.json else sys.stdout, flush=True)

    result = run_scaling(a.model, device=a.device, quick=a.quick, log=log)
    result["files"] = write_scaling(result, Path(a.out) if a.out else ASSETS, log)
    if a.json:
        print(json.dumps(result))
    else:
        for name, c in result["curves"].items():
            print(f"{name}: t ∝ {c['x_label']}^{c['exponent']:.2f}")
        print("wrote " + ", ".join(result["files"].values()))
    return 0
