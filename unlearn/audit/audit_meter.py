"""How far an audit has come and about how long it has left, for its progress bar.

An audit is a dozen stages of very different cost (REMIND's neighbours are 40% of it, one relearning
attack a few per cent), so "stage 3 of 12" says little about the time left. Each stage is given a
cost from the work it does (sequences scored, answers generated, backward passes) weighted by what
one unit took on the reference 2-core CPU (README, issue 14's breakdown of a 31-minute audit); only
the ratios matter, so the estimate holds on faster machines: time left = elapsed × (1 − f) / f,
where f is the share of the modelled cost done.

The meter also keeps each stage's wall time (`seconds()`), so an audit can report its parts.

>>> m = Meter({"a": 1.0, "b": 3.0}, lambda s: None, clock=iter([0.0, 0.0, 10.0, 20.0, 25.0]).__next__)
>>> m.stage("a"); m.stage("b"); m.status("halfway", done=(1, 2)).fraction
0.625
>>> m.seconds()
{'a': 10.0, 'b': 15.0}
"""

from __future__ import annotations

import time
from collections.abc import Callable

# Seconds per unit of work on the reference 2-core CPU (the bundled 135M model); ratios are what count.
# From the default audit of the bench run of 2026-12-01 06:20-06:56 (REMIND read 0.128 s a sequence
# there, this table's 0.133 within 4%), each part's seconds over its units.
SECONDS = {
    "sequence": 0.133,  # one REMIND neighbour scored
    "item": 0.75,  # one split item's token statistics and truth-ratio variants (grouped by question)
    # one greedy answer (48 new tokens), a side's 100 decoded as one batch (0.29 s in the 10:23 bench run,
    # scaled by that run's REMIND rate to this table's)
    "answer": 0.35,
    "utility_item": 0.25,  # one Real Authors / World Facts item's variants (its answer is in "answer")
    "backward": 0.5,  # one item's GradNorm, in batches of 8 (ghost_norm.py)
    "surface_item": 11.5,  # one 2-D loss surface
    "probe_item": 3.2,  # one forget item through every adversarial probe, decoded together (greedy.py)
    "choice_item": 0.48,  # one forget item's multiple-choice question (honesty), batched
    # one forget item (and its retain counterpart) scored and answered under one bit width
    "quantized_item": 1.4,
    "relearn": 23.0,  # the relearning attack, whole
    "patch_item": 60.0,  # one forget item's activation patching, every layer both ways (not in the default audit)
    "reference_item": 1.3,  # one item under the retain-only model (not in the default audit: not remeasured)
}


class Status(str):
    """One progress report: the line to show (a str, so every `say` consumer keeps working) and the
    share of the audit done (0-1) for a progress bar."""

    fraction: float

    def __new__(cls, text: str, fraction: float) -> Status:
        obj = super().__new__(cls, text)
        obj.fraction = fraction
        return obj


def _clock_text(s: float) -> str:
    return f"{s:.0f} s" if s < 90 else f"{s / 60:.0f} min"


class Meter:
    """Called with a message (as any `say`), it reports a `Status` carrying the share done and the
    time left; `stage(key)` marks the start of a planned stage, `done=(i, n)` progress within it."""

    def __init__(
        self, plan: dict[str, float], report: Callable[[Status], None], clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self.plan, self.report, self.clock = plan, report, clock
        self.total = sum(plan.values()) or 1.0
        self.t0 = clock()
        self.finished = 0.0  # modelled cost of the stages left behind
        self.current: str | None = None
        self.started = self.t0  # when the current stage began
        self.spent: dict[str, float] = {}  # stage -> measured wall seconds (a stage may be entered again)

    def stage(self, key: str | None) -> None:
        """Enter stage `key` (None: leave the current one without entering another)."""
        if key == self.current:
            return
        now = self.clock()
        if self.current is not None:
            self.finished += self.plan.get(self.current, 0.0)
            self.spent[self.current] = self.spent.get(self.current, 0.0) + now - self.started
        self.current, self.started = key, now

    def seconds(self) -> dict[str, float]:
        """Measured wall seconds of every stage so far; the current stage is closed first."""
        self.stage(None)
        return dict(self.spent)

    def status(self, msg: str, done: tuple[int, int] | None = None) -> Status:
        within = done[0] / done[1] if done and done[1] else 0.0
        f = min(1.0, (self.finished + within * self.plan.get(self.current or "", 0.0)) / self.total)
        elapsed = self.clock() - self.t0
        line = f"{msg} · {f:.0%} of the audit, {_clock_text(elapsed)} so far"
        if 0.02 <= f < 1:  # the first stage's pace says too little to extrapolate from
            line += f", about {_clock_text(elapsed * (1 - f) / f)} left"
        return Status(line, f)

    def __call__(self, msg: str, done: tuple[int, int] | None = None) -> None:
        self.report(self.status(msg, done))


def side_plan(side: str, split: str, n: int, k_sequences: int, gradnorm: bool) -> dict[str, float]:
    """The stages of scoring one split under one model, with their modelled costs."""
    plan = {f"{side}:{split}": n * SECONDS["item"]}
    plan[f"{side}:{split}:remind"] = n * k_sequences * SECONDS["sequence"]
    if gradnorm:
        plan[f"{side}:{split}:gradnorm"] = n * SECONDS["backward"]
    return plan


# The audit's parts, as issue 19 names them, from the stage keys run_audit enters
# ("before:forget:remind", "after:real_authors", "relearn", ...): the last matching rule wins.
PARTS = (
    ("tofu_metrics", lambda k: True),  # token statistics and truth-ratio variants of the splits and utility sets
    ("generations", lambda k: k.endswith(":greedy")),  # every set's greedy answers, one batched call per side
    ("remind", lambda k: k.endswith(":remind")),
    ("remind_classify", lambda k: k == "remind:classify"),
    ("gradnorm", lambda k: k.endswith(":gradnorm")),
    ("surfaces", lambda k: k.endswith(":surfaces")),
    ("probes", lambda k: k.endswith(":probes")),
    ("honesty", lambda k: k.endswith(":honesty")),
    ("relearn", lambda k: k == "relearn"),
    ("quantize", lambda k: k == "quantize"),
    ("patching", lambda k: k == "patching"),
    ("retain_model", lambda k: k == "retain_model"),
)


def audit_parts(seconds: dict[str, float]) -> dict[str, float]:
    """Stage seconds summed into the audit's parts.

    >>> audit_parts({"before:forget": 1.0, "before:forget:remind": 4.0, "after:real_authors": 2.0, "relearn": 3.0})
    {'tofu_metrics': 3.0, 'remind': 4.0, 'relearn': 3.0}
    """
    parts: dict[str, float] = {}
    for key, s in seconds.items():
        part = [name for name, match in PARTS if match(key)][-1]
        parts[part] = parts.get(part, 0.0) + s
    return parts
