"""What a finished run's before | after figures say, in words, with what to try next.

"Finished" alone hides the two ways a run goes wrong: it damaged what it had to keep (held-out
retain fell), or it hardly forgot (forget barely moved). Both are read from the run's own metrics,
so a teacher in front of a class sees the trouble and a fix in the result line.

>>> m = {"forget_prob_before": 0.30, "forget_prob_after": 0.01, "retain_prob_before": 0.40, "retain_prob_after": 0.29}
>>> print(run_warnings(m, has_retain=True, retain_weight="alpha", stop_rule=False)[0])  # doctest: +ELLIPSIS
⚠️ Held-out retain fell to 72% of before ... a lower learning rate, the stop rule ..., a larger retain weight alpha.
>>> run_warnings({**m, "retain_prob_after": 0.39}, True, "alpha", False)
[]
"""

from __future__ import annotations

from typing import Any

from unlearn.train.methods import describe

RETAIN_KEPT = 0.9  # held-out retain P̃ below this share of before is flagged as damage
FORGET_MOVED = 0.8  # forget P̃ above this share of before is flagged as "barely moved"


def retain_weight(method_id: str) -> str | None:
    """The name of a method's retain-term weight (None where it has none), for the advice."""
    params = describe(method_id)["hyperparameters"]
    return next((h["name"] for h in params if "weight" in h["help"] and "retain" in h["help"]), None)


def _share(metrics: dict[str, Any], name: str) -> float | None:
    before, after = metrics.get(f"{name}_prob_before"), metrics.get(f"{name}_prob_after")
    if before is None or after is None or not before > 0:
        return None
    return after / before


def run_warnings(metrics: dict[str, Any], has_retain: bool, retain_weight: str | None, stop_rule: bool) -> list[str]:
    """A line per problem the run's figures show: retain damaged, forget barely moved.

    `retain_weight` is the name of the method's retain-term weight (None when it has none), and
    `stop_rule` whether the run already used the retain stop rule: the advice names only what is left
    to try."""
    out = []
    retain = _share(metrics, "retain") if has_retain else None
    if retain is not None and retain < RETAIN_KEPT:
        tries = ["fewer steps", "a lower learning rate"]
        if not stop_rule:
            tries.append(f"the stop rule (keep held-out retain ≥ {RETAIN_KEPT:g} of before)")
        tries.append(f"a larger retain weight {retain_weight}" if retain_weight else "a method with a retain term")
        out.append(
            f"⚠️ Held-out retain fell to {retain:.0%} of before (below {RETAIN_KEPT:.0%}): the run damaged what "
            f"the model should keep. Try {', '.join(tries)}."
        )
    elif not has_retain:
        out.append("ℹ️ No retain set was picked, so nothing shows what this run damaged: pick one in Model & data.")
    forget = _share(metrics, "forget")
    if forget is not None and forget > FORGET_MOVED:
        out.append(
            f"⚠️ Forget barely moved ({forget:.0%} of before): the model still answers much as it did. Try more "
            "steps or a higher learning rate, and check in Model & data that the model knew the set to begin with."
        )
    return out
