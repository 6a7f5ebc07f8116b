"""Every method on the same task, one after the other on one loaded model: the README's table.

Each run starts from the same "before" (the previous run is undone exactly), uses the method's
quick-demo defaults, and is saved like any other run. An entry may add the options any method
takes: `npo+gu=3` (GU projection, k = 3), `npo+coreset=0.1` (random 10%), `npo+coreset_kw=0.1`
(keyword-chosen 10%), `npo+melu` (entity by entity).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unlearn.data.builtin import load_selection
from unlearn.data.workspace import split_retain
from unlearn.errors import UserError
from unlearn.model.models import LoadedModel
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.methods import METHODS, describe
from unlearn.train.runs import save_run


def parse_entry(entry: str) -> tuple[str, dict[str, Any]]:
    """`method[+gu=K][+coreset=F][+coreset_kw=F][+melu]` -> (method id, RunSpec options)."""
    method, *opts = entry.split("+")
    options: dict[str, Any] = {}
    for o in opts:
        key, _, value = o.partition("=")
        if key == "gu":
            options["project_retain"] = int(value or 3)
        elif key in ("coreset", "coreset_kw"):
            options["coreset"] = float(value)
            options["coreset_mode"] = "keyword" if key == "coreset_kw" else "random"
        elif key == "melu":
            options["melu"] = True
        else:
            raise UserError(f"unknown sweep option {key!r} in {entry!r}; valid: gu=K, coreset=F, coreset_kw=F, melu")
    return method, options


def sweep(
    lm: LoadedModel, methods: list[str], forget: str, retain: str, steps: int, out: Path | None = None
) -> list[dict[str, Any]]:
    """Run each method with quick defaults; return one row of figures per method."""
    fset = load_selection(forget).examples
    train, held = split_retain(load_selection(retain).examples) if retain else ([], [])
    rows = []
    for entry in methods or sorted(METHODS):
        m, options = parse_entry(entry)
        d = describe(m)
        d["name"] += "".join(f" + {k}" for k in entry.split("+")[1:])
        # GU here skips the paper's Adam preconditioning and MELU's sampling is rebuilt from its
        # description: a row using either is a reconstruction whatever the method
        d["faithful"] = d["faithful"] and not ({"project_retain", "melu"} & set(options))
        spec = RunSpec(m, "quick", eval_every=0, **options)
        spec.loop = spec.loop_config()
        spec.loop.steps = steps
        print(f"{m}: {steps} steps at lr {spec.loop.lr:g}…", file=sys.stderr, flush=True)
        try:
            res = run_unlearning(lm, spec, fset, train, held)
        except (ValueError, FloatingPointError) as e:
            rows.append({"method": entry, "name": d["name"], "faithful": d["faithful"], "error": str(e)})
            continue
        run_dir = save_run(res, lm, {"forget": forget, "retain": retain}, root=out)
        res.trainable.reset()  # the next method starts from the same "before"
        rows.append(
            {
                "method": entry,
                "name": d["name"],
                "faithful": d["faithful"],
                "steps": len(res.history),
                "seconds": round(res.seconds, 1),  # with the before/after measurement
                "train_seconds": round(res.history[-1]["seconds"], 1) if res.history else 0.0,
                "run_dir": str(run_dir),
                **{k: v for k, v in res.metrics.items() if k != "trained_parameters"},
            }
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The README table: probabilities before/after, the ratios, seconds, and a plain verdict."""
    head = (
        "| method | forget P̃ before → after | forget after/before | retain P̃ (held out) before → after "
        "| retain after/before | seconds unlearning (total) | verdict | published algorithm |"
        "\n|---|---|---|---|---|---|---|---|"
    )
    lines = [head]
    for r in rows:
        kind = "faithful" if r["faithful"] else "reconstruction"
        if "error" in r:
            lines.append(f"| {r['name']} (`{r['method']}`) | failed: {r['error']} | | | | | | {kind} |")
            continue
        fr = r["forget_prob_after"] / r["forget_prob_before"]
        rr = r["retain_prob_after"] / r["retain_prob_before"]
        verdict = (
            "forgets, keeps retain"
            if fr <= 0.1 and rr >= 0.85
            else "forgets but damages retain"
            if fr <= 0.1
            else "does not forget enough"
            if rr >= 0.85
            else "neither"
        )
        lines.append(
            f"| {r['name']} (`{r['method']}`) "
            f"| {r['forget_prob_before']:.4f} → {r['forget_prob_after']:.4f} | {fr:.3f} "
            f"| {r['retain_prob_before']:.4f} → {r['retain_prob_after']:.4f} | {rr:.3f} "
            f"| {r.get('train_seconds', r['seconds']):.0f} ({r['seconds']:.0f}) "
            f"| {verdict} | {kind} |"
        )
    return "\n".join(lines)
