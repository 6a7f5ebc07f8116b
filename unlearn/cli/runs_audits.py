"""The commands about runs: run, sweep, methods, audit (also on a Ray cluster)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from unlearn.cli.common import emit, to_stderr, without
from unlearn.data.set_refs import load_set, set_name
from unlearn.errors import UserError
from unlearn.model.models import load_model


def cmd_audit_ray(a: argparse.Namespace) -> int:
    """Every `--run` audited as a Ray task (ray_jobs.py), with the same options; each audit beside its run."""
    from unlearn.tools.ray_jobs import ray_audit

    if a.html:
        raise UserError("--html with --ray: the reports are written afterwards, one `audit --run DIR --html` each")
    rest = without(without(a.argv[1:], "--run", "yes"), "--ray", "maybe")
    rest = [w for w in rest if w != "--json"]
    results = ray_audit(a.ray, a.run, rest, to_stderr)
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
        raise UserError("several --run need --ray (one audit per task); audit one run at a time without it")
    a.run = a.run[0]
    from unlearn.audit.audit_meter import audit_parts
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
            raise UserError(
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
        patch_items=a.patch_items,
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
    parts = sorted(audit_parts(result.seconds).items(), key=lambda kv: -kv[1])
    say("where the time went: " + ", ".join(f"{k.replace('_', ' ')} {v:.0f} s" for k, v in parts))
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
    emit(clean({**out, **result.summary()}), a.json)  # strict JSON: NaN becomes null
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
        lr=a.lr if a.lr is not None else info.lr_for(a.preset),
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
    emit(result, a.json)
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
        rows = ray_sweep(a.ray, base, a.methods or sorted(METHODS), out, to_stderr)
    else:
        lm = load_model(a.model, device=a.device)
        rows = sweep(lm, a.methods, a.forget, a.retain, a.steps, Path(a.out) if a.out else None)
    print(markdown_table(rows))
    if a.json:
        print(json.dumps({"methods": rows}))
    return 0
