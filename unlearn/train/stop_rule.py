"""When to stop an unlearning run: at the first step where the forget set is forgotten enough, or
before the held-out retain set falls below what the user will accept.

The quick defaults were tuned on the built-in sets and overshoot elsewhere (a quick NPO run on 16
uploaded facts took held-out retain P̃ to 72% of before). Papers pick the step by the same two
curves; this makes the choice a rule:

- `forget_share`: stop after the first step at which forget P̃ ≤ forget_share × its value before;
- `retain_share`: if a step takes held-out retain P̃ below retain_share × its value before, that
  step is undone (the trained tensors go back to their values after the step before) and the run
  stops, so it ends with retain ≥ retain_share × before.

Both are measured on the whole forget set and the whole held-out retain set after every step (the
figures the run reports at the end), not on the live curves' sample.

>>> w = StopWatch(StopRule(forget_share=0.1, retain_share=0.9), [], forget_before=0.8, retain_before=0.5)
>>> w.after_step(1, forget=0.4, retain=0.49), w.after_step(2, forget=0.05, retain=0.46)
(None, 'forget')
>>> w.stopped["step"], w.stopped["undone"]
(2, False)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from unlearn.errors import UserError


@dataclass
class StopRule:
    forget_share: float | None = None  # stop once forget P̃ ≤ this share of before (e.g. 0.1); None: off
    retain_share: float | None = None  # undo the step that takes held-out retain below this share (e.g. 0.9)

    @property
    def active(self) -> bool:
        return self.forget_share is not None or self.retain_share is not None

    def check(self, has_retain: bool) -> None:
        for name, v in (("forget", self.forget_share), ("retain", self.retain_share)):
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and 0 < v < 1.000001):
                raise UserError(
                    f"the stop rule's {name} share must be above 0 and at most 1 (e.g. 0.1 or 0.9), got {v}"
                )
        if self.retain_share is not None and not has_retain:
            raise UserError("the stop rule on retain needs a retain set whose held-out part it can measure: pick one")


class StopWatch:
    """Applies a StopRule to a run: a copy of the trained tensors after each accepted step (so the
    step that breaks the retain rule can be undone), the decision after each step, the reason."""

    def __init__(
        self, rule: StopRule, params: Sequence[torch.nn.Parameter], forget_before: float, retain_before: float
    ) -> None:
        self.rule, self.params = rule, list(params)
        self.forget_before, self.retain_before = forget_before, retain_before
        self.stopped: dict[str, Any] | None = None
        self.kept = (forget_before, retain_before)  # (forget, retain) P̃ of the weights the model holds now
        self._last = self._copy() if rule.retain_share is not None else None  # the weights before step 1

    def _copy(self) -> list[torch.Tensor]:
        return [p.detach().clone() for p in self.params]

    def after_step(self, step: int, forget: float, retain: float) -> str | None:
        """Decide after `step` (whose P̃ on the whole sets are given): "retain" (the step was undone and
        the run stops), "forget" (the run stops with this step) or None (go on)."""
        r = self.rule
        if r.retain_share is not None and retain < r.retain_share * self.retain_before:
            with torch.no_grad():
                for p, kept in zip(self.params, self._last or [], strict=True):
                    p.copy_(kept)
            self.stopped = {
                "rule": "retain",
                "step": step,
                "undone": True,
                "forget_prob": forget,
                "retain_prob": retain,
            }
            return "retain"  # the weights, and so `kept`, are the previous step's
        self.kept = (forget, retain)
        if r.forget_share is not None and forget <= r.forget_share * self.forget_before:
            self.stopped = {
                "rule": "forget",
                "step": step,
                "undone": False,
                "forget_prob": forget,
                "retain_prob": retain,
            }
            return "forget"
        if self._last is not None:
            self._last = self._copy()
        return None

    def should_stop(self) -> bool:
        return self.stopped is not None

    def describe(self) -> str:
        """One sentence for the run's message: why it stopped where it did."""
        s = self.stopped
        if s is None:
            return ""
        if s["rule"] == "forget":
            return (
                f"Stopped at step {s['step']}: forget P̃ {s['forget_prob']:.4g} ≤ {self.rule.forget_share:g} × "
                f"{self.forget_before:.4g} (before)."
            )
        return (
            f"Step {s['step']} took held-out retain P̃ to {s['retain_prob']:.4g}, below {self.rule.retain_share:g} × "
            f"{self.retain_before:.4g} (before): it was undone, and the run ends after step {s['step'] - 1}."
        )
