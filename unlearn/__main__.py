"""Command line: `python -m unlearn {info,datasets,check-data,teach,run,audit,import,export,...} ...`.

With --json the last line printed is one JSON object, for scripts and checks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from unlearn.data.builtin import KNOWLEDGE_NOTES, builtin_names, load_builtin
from unlearn.data.set_refs import SET_HELP, load_set, set_name
from unlearn.data.teach import TeachConfig
from unlearn.model.models import BUNDLED, ModelLoadError, load_model
from unlearn.train.engine import DEMO_STEPS

RAY_HELP = (
    "run each entry as a task on a Ray cluster (one GPU each where it has GPUs); ADDRESS as ray.init takes it, "
    "'auto' for the cluster this machine is in, none for a local one"
)


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
    _emit({"model": lm.name, "written": a.write, **summary}, a.json)
    return 0


def cmd_teach(a: argparse.Namespace) -> int:
    from unlearn.data.teach import teach

    lm = load_model(a.model, device=a.device)
    examples = [e for sel in a.sets for e in load_set(sel)]
    cfg = TeachConfig(epochs=a.epochs, lr=a.lr, batch_size=a.batch_size, seed=a.seed, replay=a.replay or None)

    def show(frac: float, msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    taught = teach(lm, examples, "+".join(a.sets), cfg, progress=show)
    _emit({"model_dir": taught.path, **taught.taught}, a.json)
    return 0


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _without(argv: list[str], flag: str, takes_value: str) -> list[str]:
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


def cmd_audit_ray(a: argparse.Namespace) -> int:
    """Every `--run` audited as a Ray task (ray_jobs.py), with the same options; each audit beside its run."""
    from unlearn.tools.ray_jobs import ray_audit

    if a.html:
        raise ValueError("--html with --ray: the reports are written afterwards, one `audit --run DIR --html` each")
    rest = _without(_without(a.argv[1:], "--run", "yes"), "--ray", "maybe")
    rest = [w for w in rest if w != "--json"]
    results = ray_audit(a.ray, a.run, rest, _stderr)
    if a.json:
        print(json.dumps({"audits": results}))
    else:
        for r in results:
            print(f"{r['run']}: " + (r.get("error") or r.get("audit_json", "")))
    return 0 if all("error" not in r for r in results) else 1


def cmd_audit(a: argparse.Namespace) -> int:
    if a.ray is not None:
        return cmd_audit_ray(a)
    if len(a.run) > 1:
        raise ValueError("several --run need --ray (one audit per task); audit one run at a time without it")
    a.run = a.run[0]
    from unlearn.audit.audit_record import clean, save_audit, to_record
    from unlearn.audit.pipeline import AuditConfig, run_audit
    from unlearn.audit.remind import RemindConfig
    from unlearn.data.builtin import selections, utility_sets
    from unlearn.data.holdout import own_holdout, source_note
    from unlearn.train.runs import apply_run, split_ref
    from viz.audit_report import audit_figures, report_html
    from viz.export import figures_json

    run_dir, step = split_ref(a.run)
    step = a.step if a.step is not None else step
    record = json.loads((Path(run_dir) / "run.json").read_text())
    sets_used = record.get("sets", {})
    names = {
        "forget": a.forget or sets_used.get("forget"),
        "retain": a.retain if a.retain is not None else sets_used.get("retain", ""),
        "holdout": a.holdout,
    }
    if names["holdout"] is None:  # the forget set's own holdout split: the only default that measures membership
        names["holdout"] = own_holdout(names["forget"] or "", selections())
        if names["holdout"] is None:
            raise ValueError(
                f"{names['forget']} has no holdout split of its own: give --holdout SET, items never trained on from "
                "the same source as the forget set (a set on another topic makes the AUCs measure the topic)"
            )
    note = source_note(names["forget"] or "", names["holdout"] or "") if names["holdout"] else None
    sets = {k: load_set(v) for k, v in names.items() if v}
    if not a.no_utility_sets:
        sets |= utility_sets(a.utility_items)
    cfg = AuditConfig(
        remind=RemindConfig(k=a.neighbours, seed=a.seed),
        max_items=a.items,
        probe_items=a.probe_items,
        surface_items=a.surfaces,
        quality_items=a.quality_items,
        utility_items=a.utility_items,
        gradnorm=not a.no_gradnorm,
        quantize_bits=tuple(a.quantize),
    )
    if a.no_relearn:
        cfg.relearn = None
    started = time.perf_counter()

    def say(msg: str) -> None:  # elapsed seconds first: the audit's parts can be timed from the log
        print(f"[{time.perf_counter() - started:6.0f} s] {msg}", file=sys.stderr, flush=True)

    if note:
        say(f"warning: {note}")
    lm = load_model(a.model or record["model"]["ref"], device=a.device)
    tr = apply_run(lm, Path(run_dir), step)
    if a.retain_model:
        rm = load_model(a.retain_model, device=a.device)
        cfg.retain_model = (rm.model, rm.tokenizer)
    result = run_audit(lm.model, lm.tokenizer, sets, tr.reference, cfg, say, trainable=tr)
    meta = {
        "run": {"id": record["id"], "method": record.get("method"), "model": lm.name, "step": step},
        "sets": names,
        "retain_model": a.retain_model,
        "holdout_note": note,
    }
    rec = to_record(result, meta)
    out: dict[str, object] = {"run_dir": run_dir, "step": step, "method": record.get("method"), "sets": names}
    out["holdout_note"] = note
    out["audit_json"] = str(save_audit(Path(run_dir), rec, step))  # the Runs tab and the app read it from there
    if a.html:
        html_path = Path(a.html)
        html_path.parent.mkdir(parents=True, exist_ok=True)
        figs = audit_figures(rec)  # drawn once for the page and the JSON
        html_path.write_text(report_html(rec, figs))
        fig_path = html_path.with_suffix(".figures.json")
        fig_path.write_text(figures_json(figs))
        out |= {"html": str(html_path), "figures_json": str(fig_path)}
    _emit(clean({**out, **result.summary()}), a.json)  # strict JSON: NaN becomes null
    return 0


def cmd_methods(a: argparse.Namespace) -> int:
    from unlearn.train.methods import METHODS, describe

    rows = [describe(m) for m in sorted(METHODS)]
    if a.json:
        print(json.dumps({"methods": rows}))
        return 0
    for r in rows:
        kind = "faithful" if r["faithful"] else "reconstruction"
        print(
            f"{r['id']:<12} {r['name']:<26} {kind:<15} retain: {'yes' if r['needs_retain'] else 'no ':<4} {r['paper']}"
        )
    return 0


def _hparam(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    if not key or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def cmd_run(a: argparse.Namespace) -> int:
    from unlearn.data.workspace import split_retain
    from unlearn.train.distributed import data_parallel, local_device
    from unlearn.train.engine import RunSpec, run_unlearning
    from unlearn.train.loop import LoopConfig
    from unlearn.train.methods import get_method
    from unlearn.train.run_verdict import retain_weight, run_warnings
    from unlearn.train.runs import in_progress, save_run

    info = get_method(a.method).info
    parallel = data_parallel(a.shard)  # under torchrun / accelerate launch: this process's place in the group
    main = parallel is None or parallel.is_main
    lm = load_model(a.model, device=a.device or local_device())
    forget = load_set(a.forget)
    # train on one part of the retain set, measure on the other (never trained on)
    train, held = split_retain(load_set(a.retain)) if a.retain else ([], [])
    loop = LoopConfig(
        lr=a.lr if a.lr is not None else (info.lr if a.preset == "quick" else info.paper_lr),
        steps=a.steps,
        epochs=a.epochs,
        batch_size=a.batch_size,
        grad_accum=a.grad_accum,
        warmup=a.warmup,
        max_length=a.max_length,
        seed=a.seed,
    )
    spec = RunSpec(
        a.method,
        a.preset,
        dict(a.hp or []),
        a.mode,
        a.lora_r,
        loop,
        eval_every=a.eval_every,
        low_memory=a.low_memory,
        compile=a.compile,
        project_retain=a.gu,
        coreset=a.coreset,
        coreset_mode=a.coreset_mode,
        melu=a.melu,
        save_every=a.save_every,
        stop_forget=a.stop_forget,
        keep_retain=a.keep_retain,
    )

    def show(s) -> None:
        logs = " ".join(f"{k}={v:.4g}" for k, v in s.logs.items())
        if main:
            print(f"step {s.step}/{s.total} {s.seconds:.1f}s {logs}", file=sys.stderr, flush=True)

    sets = {"forget": set_name(a.forget), "retain": set_name(a.retain or "")}
    root = Path(a.out) if a.out else None
    if not main:  # another process of a launched run: train its share; the main process writes the run
        run_unlearning(lm, spec, forget, train, held, parallel=parallel)
        return 0
    with in_progress(a.method, lm, sets, root):  # killed mid-run: listed as "interrupted"
        out = run_unlearning(lm, spec, forget, train, held, on_step=show, parallel=parallel)
        run_dir = save_run(out, lm, sets, root=root)
    result = {
        "run_dir": str(run_dir),
        "method": a.method,
        "steps": len(out.history),
        "seconds": round(out.seconds, 2),
        "cancelled": out.cancelled,
        "checkpoints": sorted(out.checkpoints),
        **out.metrics,
        # the same advice as the app's result line: retain damaged, forget barely moved
        "warnings": run_warnings(out.metrics, bool(held), retain_weight(a.method), a.keep_retain is not None),
    }
    _emit(result, a.json)
    return 0


def cmd_import(a: argparse.Namespace) -> int:
    from unlearn.model.import_pair import import_checkpoint

    lm = load_model(a.model, device=a.device)  # before: the model the checkpoint was unlearned from
    run_dir = import_checkpoint(lm, a.after, a.name, Path(a.out) if a.out else None)
    record = json.loads((run_dir / "run.json").read_text())
    _emit({"run_dir": str(run_dir), **record["after"]}, a.json)
    return 0


def cmd_export(a: argparse.Namespace) -> int:
    from unlearn.model.export_run import export_run
    from unlearn.train.runs import split_ref

    run_dir, step = split_ref(a.run)
    record = json.loads((Path(run_dir) / "run.json").read_text())
    lm = load_model(a.model or record["model"]["ref"], device=a.device)
    out = export_run(lm, Path(run_dir), a.format, Path(a.out), step)
    files = sorted(p.name for p in out.iterdir())
    _emit({"out": str(out), "format": a.format, "run": record["id"], "step": step, "files": files}, a.json)
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
    if a.pairs:
        from unlearn.tools.bench_pairs import bench_pairs

        _emit(bench_pairs(load_model(a.model, device=a.device)), a.json)
        return 0
    from unlearn.tools.bench import run_bench

    result = run_bench(a.model, device=a.device, quick=a.quick)
    if a.json:
        print(json.dumps(result))
    else:
        print("targets met: " + ", ".join(f"{k} {'yes' if ok else 'NO'}" for k, ok in result["met"].items()))
    return 0


def cmd_sweep(a: argparse.Namespace) -> int:
    from unlearn.tools.sweep import markdown_table, sweep

    if a.ray is not None:  # one Ray task per entry, each running this command for its entry (ray_jobs.py)
        from unlearn.tools.ray_jobs import ray_sweep
        from unlearn.train.methods import METHODS
        from unlearn.train.runs import runs_dir

        base = ["--model", a.model, "--forget", a.forget, "--retain", a.retain, "--steps", str(a.steps)]
        base += ["--device", a.device] if a.device else []
        out = Path(a.out) if a.out else runs_dir()
        rows = ray_sweep(a.ray, base, a.methods or sorted(METHODS), out, _stderr)
    else:
        lm = load_model(a.model, device=a.device)
        rows = sweep(lm, a.methods, a.forget, a.retain, a.steps, Path(a.out) if a.out else None)
    print(markdown_table(rows))
    if a.json:
        print(json.dumps({"methods": rows}))
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
    sp.add_argument(
        "--sets", nargs="+", default=["fictitious_authors:forget", "fictitious_authors:retain"], help=SET_HELP
    )
    d = TeachConfig()
    sp.add_argument("--epochs", type=float, default=d.epochs, help="passes over the taught + replay items")
    sp.add_argument("--lr", type=float, default=d.lr, help="AdamW learning rate")
    sp.add_argument("--batch-size", type=int, default=d.batch_size)
    sp.add_argument("--seed", type=int, default=d.seed)
    sp.add_argument("--replay", default=d.replay, help="set mixed in to keep general knowledge ('' for none)")
    sp.set_defaults(fn=cmd_teach)
    sp = sub.add_parser("methods", help="list the unlearning methods")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_methods)

    sp = sub.add_parser("run", help="run one unlearning method and save the run")
    model_args(sp)
    sp.add_argument("--forget", default="harry_potter", help=SET_HELP)
    sp.add_argument(
        "--retain",
        default="general_knowledge",
        help=SET_HELP + " ('' for none); its eval part (or every other item) is only measured",
    )
    sp.add_argument("--method", default="npo")
    sp.add_argument("--preset", default="quick", choices=["quick", "paper"], help="default hyperparameters")
    sp.add_argument("--hp", type=_hparam, action="append", help="a method hyperparameter, NAME=VALUE (repeatable)")
    sp.add_argument(
        "--mode",
        default=None,
        choices=["lora", "full", "subset"],
        help="parameters trained (default: the method's own subset where its paper trains one, e.g. RMU; else lora)",
    )
    sp.add_argument("--lora-r", type=int, default=8)
    sp.add_argument("--lr", type=float, default=None, help="default: the method's quick / paper learning rate")
    sp.add_argument("--steps", type=int, default=DEMO_STEPS)
    sp.add_argument("--epochs", type=float, default=1.0, help="used when --steps 0")
    sp.add_argument("--batch-size", type=int, default=8)
    sp.add_argument("--grad-accum", type=int, default=1)
    sp.add_argument("--warmup", type=int, default=0)
    sp.add_argument("--max-length", type=int, default=256)
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--eval-every", type=int, default=1, help="steps between live probability measurements")
    sp.add_argument(
        "--low-memory", action="store_true", help="recompute activations during backward: less memory, ~30%% slower"
    )
    sp.add_argument(
        "--compile", action="store_true", help="compile the decoder layers: faster GPU steps, after about a minute"
    )
    sp.add_argument(
        "--shard",
        action="store_true",
        help="under torchrun / accelerate launch: split the model's trained state over the processes (FSDP2)",
    )
    sp.add_argument(
        "--gu", type=int, default=0, metavar="K", help="GU: project the span of the last K retain gradients out of g_f"
    )
    sp.add_argument("--coreset", type=float, default=1.0, help="share of the forget set to train on (0-1]")
    sp.add_argument("--coreset-mode", default="random", choices=["random", "keyword"])
    sp.add_argument("--melu", action="store_true", help="entity-by-entity forget batches (needs entities)")
    sp.add_argument(
        "--save-every", type=int, default=0, metavar="K", help="keep the trained weights every K steps (audit any)"
    )
    sp.add_argument(
        "--stop-forget",
        type=float,
        default=None,
        metavar="SHARE",
        help="stop at the first step where forget P̃ is at most SHARE of before (e.g. 0.1)",
    )
    sp.add_argument(
        "--keep-retain",
        type=float,
        default=None,
        metavar="SHARE",
        help="undo the step that takes held-out retain P̃ below SHARE of before, and stop (e.g. 0.9)",
    )
    sp.add_argument("--out", default=None, help="runs folder (default: $UNLEARN_RUNS_DIR or the cache)")
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("sweep", help="run every method with quick defaults on one task; print the table")
    model_args(sp)
    sp.add_argument("--methods", nargs="*", default=[], help="method ids (default: all)")
    sp.add_argument("--forget", default="harry_potter")
    sp.add_argument("--retain", default="general_knowledge")
    sp.add_argument("--steps", type=int, default=DEMO_STEPS)
    sp.add_argument("--out", default=None, help="runs folder (default: $UNLEARN_RUNS_DIR or the cache)")
    sp.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS", help=RAY_HELP)
    sp.set_defaults(fn=cmd_sweep)

    sp = sub.add_parser("audit", help="score a saved run before and after: membership inference, REMIND, TOFU metrics")
    sp.add_argument(
        "--run",
        required=True,
        action="append",
        help="a saved run's folder (RUN_DIR#step=N: one of the steps it kept); with --ray, as many as you like",
    )
    sp.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS", help=RAY_HELP)
    sp.add_argument("--step", type=int, default=None, help="audit a step the run kept (run with --save-every)")
    sp.add_argument("--model", default=None, help="default: the model the run was made on")
    sp.add_argument("--device", default=None)
    sp.add_argument("--forget", default=None, help=SET_HELP + "; default: the run's forget set")
    sp.add_argument("--retain", default=None, help=SET_HELP + "; default: the run's retain set ('' for none)")
    sp.add_argument(
        "--holdout",
        default=None,
        help="items never trained on, from the forget set's source, named as --forget (default: its own "
        "holdout split, e.g. fictitious_authors:holdout for fictitious_authors:forget)",
    )
    sp.add_argument("--items", type=int, default=20, help="items per split")
    sp.add_argument("--neighbours", type=int, default=15, help="REMIND neighbours per perturbation strength (K)")
    sp.add_argument("--probe-items", type=int, default=6, help="forget items asked each adversarial probe (0: none)")
    sp.add_argument("--no-relearn", action="store_true", help="skip the relearning attack")
    sp.add_argument("--surfaces", type=int, default=2, help="forget items given a 2-D loss surface (p × m)")
    sp.add_argument(
        "--retain-model",
        default=None,
        help="a model trained without the forget set (folder, hub id, .gguf or PEFT adapter folder): forget "
        "quality and PrivLeak",
    )
    sp.add_argument(
        "--quality-items", type=int, default=None, help="forget items in the forget-quality KS test (default: all)"
    )
    sp.add_argument(
        "--utility-items",
        type=int,
        default=None,
        help="TOFU Real Authors / World Facts items scored for model utility (default: all, 100 and 117)",
    )
    sp.add_argument(
        "--no-utility-sets",
        action="store_true",
        help="skip Real Authors and World Facts (the utility is then a 'retain utility', not TOFU's model utility)",
    )
    sp.add_argument("--no-gradnorm", action="store_true", help="skip the GradNorm attack (one backward per item)")
    sp.add_argument(
        "--quantize",
        type=int,
        nargs="*",
        default=[8, 4],
        metavar="BITS",
        help="bit widths of the quantization attack (default: 8 4; give none to skip it)",
    )
    sp.add_argument("--html", default=None, help="also write the report here (and FILE.figures.json beside it)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_audit)

    sp = sub.add_parser("import", help="pair an unlearned checkpoint (after) with its base model (before) as a run")
    model_args(sp)
    sp.add_argument(
        "--after",
        required=True,
        help="the unlearned model: a save_pretrained folder (safetensors), a hub id, a .gguf file or a PEFT LoRA "
        "adapter folder (adapter_config.json); --model is the model it was unlearned from",
    )
    sp.add_argument("--name", default=None, help="a name for the pair (default: the folder's name)")
    sp.add_argument("--out", default=None, help="runs folder (default: the app's)")
    sp.set_defaults(fn=cmd_import)

    sp = sub.add_parser("export", help="write a saved run's after model as a standard model folder")
    sp.add_argument("--run", required=True, help="a saved run's folder (RUN_DIR#step=N: one of the steps it kept)")
    sp.add_argument("--format", default="hf", choices=["hf", "peft"], help="hf: save_pretrained; peft: LoRA adapter")
    sp.add_argument("--out", required=True, help="a new (or empty) folder to write")
    sp.add_argument("--model", default=None, help="default: the model the run was made on")
    sp.add_argument("--device", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_export)

    sp = sub.add_parser("bench", help="measure loop overhead, compute use, memory and demo time against targets")
    model_args(sp)
    sp.add_argument("--quick", action="store_true", help="tiny sizes, for tests: the figures mean little")
    sp.add_argument("--pairs", action="store_true", help="only what imported pairs cost: disk, memory, seconds")
    sp.add_argument(
        "--gpu",
        action="store_true",
        help="NPO steps, Compare and REMIND on random models of Llama-3.2-1B / 3.1-8B shape (a small one on CPU)",
    )
    sp.add_argument("--shapes", default=None, help="with --gpu: comma-separated, of llama-3.2-1b, llama-3.1-8b, small")
    sp.set_defaults(fn=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # what was typed, for commands that hand it on (audit --ray)
    try:
        return args.fn(args)
    except (ModelLoadError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
