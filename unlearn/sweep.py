"""Every method on the same task, one after the other on one loaded model: the README's table.

Each run starts from the same "before" (the previous run is undone exactly), uses the method's
quick-demo defaults, and is saved like any other run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from .builtin import load_selection
from .engine import RunSpec, run_unlearning
from .methods import METHODS, describe
from .models import LoadedModel
from .runs import save_run
from .workspace import split_retain


def sweep(
    lm: LoadedModel, methods: list[str], forget: str, retain: str, steps: int, out: Path | None = None
) -> list[dict[str, Any]]:
    """Run each method with quick defaults; return one row of figures per method."""
    fset = load_selection(forget).examples
    train, held = split_retain(load_selection(retain).examples) if retain else ([], [])
    rows = []
    for m in methods or sorted(METHODS):
        d = describe(m)
        spec = RunSpec(m, "quick", eval_every=0)
        spec.loop = spec.loop_config()
        spec.loop.steps = steps
        print(f"{m}: {steps} steps at lr {spec.loop.lr:g}…", file=sys.stderr, flush=True)
        try:
            res = run_unlearning(lm, spec, fset, train, held)
        except (ValueError, FloatingPointError) as e:
            rows.append({"method": m, "name": d["name"], "faithful": d["faithful"], "error": str(e)})
            continue
        run_dir = save_run(res, lm, {"forget": forget, "retain": retain}, root=out)
        res.trainable.reset()  # the next method starts from the same "before"
        rows.append(
            {
                "method": m,
                "name": d["name"],
                "faithful": d["faithful"],
                "steps": len(res.history),
                "seconds": round(res.seconds, 1),
                "run_dir": str(run_dir),
                **{k: v for k, v in res.metrics.items() if k != "trained_parameters"},
            }
        )
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """The README table: probabilities before/after, the ratios, seconds, and a plain verdict."""
    head = (
        "| method | forget P̃ before → after | forget after/before | retain P̃ (held out) before → after "
        "| retain after/before | seconds | verdict | published algorithm |\n|---|---|---|---|---|---|---|---|"
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
            f"| {r['retain_prob_before']:.4f} → {r['retain_prob_after']:.4f} | {rr:.3f} | {r['seconds']:.0f} "
            f"| {verdict} | {kind} |"
        )
    return "\n".join(lines)
