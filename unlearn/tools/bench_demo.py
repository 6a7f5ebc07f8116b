"""The quick demo against its floor (`bench`).

The demo is `run_unlearning` as `python -m unlearn run` calls it: the whole forget and held-out retain
sets scored before the run, the steps with a live-curve point after each, and the whole sets scored
again at the end. Its floor is the work no demo with the same outcome can skip, timed apart in the
same process: both whole sets scored with the adapters off (the before figures) and on (the after
figures), and the same number of steps at the bare loop's rate (`bench_loop.bare_loop`: hand-written
PyTorch doing the same forward, backward and AdamW work). The demo's time above its floor is the live
curves and the run's bookkeeping; the floor itself says how short the demo can get on this machine
without doing less.
"""

from __future__ import annotations

import time
from pathlib import Path

from unlearn.model.models import LoadedModel
from unlearn.tools.bench_setup import DemoData, demo_spec
from unlearn.train.engine import run_unlearning
from unlearn.train.runs import save_run
from unlearn.train.set_probs import set_probs


def _scoring_seconds(lm: LoadedModel, data: DemoData, max_length: int) -> float:
    """Seconds to score both whole sets as the run scores them (one `set_probs` call)."""
    t0 = time.perf_counter()
    set_probs(lm, data.forget, data.retain_eval, max_length)
    return time.perf_counter() - t0


def time_demo(lm: LoadedModel, data: DemoData, steps: int, bare_rate: float, save_to: Path) -> dict[str, float]:
    """The demo's seconds (model loading excluded: the app loads it once) and its floor's parts, with
    `bare_rate` the bare loop's steps per second measured in this process. The run is then saved under
    `save_to` (untimed) for the measurements that follow, and taken off the model."""
    spec = demo_spec(steps)
    t0 = time.perf_counter()
    out = run_unlearning(lm, spec, data.forget, data.retain_train, data.retain_eval)
    seconds = time.perf_counter() - t0
    save_run(out, lm, {"forget": "harry_potter", "retain": "general_knowledge"}, root=save_to)
    max_length = spec.loop_config().max_length
    after = _scoring_seconds(lm, data, max_length)  # the run's adapters on: the end figures' work
    out.trainable.reset()
    before = _scoring_seconds(lm, data, max_length)  # the model as it was: the before figures' work
    bare = steps / bare_rate
    floor = before + bare + after
    return {
        "demo_run_seconds": seconds,
        "demo_floor_seconds": floor,
        "demo_vs_floor_ratio": seconds / floor,
        "demo_scoring_before_seconds": before,
        "demo_bare_steps_seconds": bare,
        "demo_scoring_after_seconds": after,
    }
