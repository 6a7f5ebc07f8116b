"""Items done and an estimate of the time left, for the progress bars of long steps.

>>> eta_line("questions answered", 4, 16, t0=0.0, now=10.0)
'4 of 16 questions answered · 10 s so far, about 30 s left'
>>> eta_line("steps", 0, 8, t0=0.0, now=1.0)
'0 of 8 steps · 1 s so far'
"""

from __future__ import annotations

import time


def _seconds(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min"


def eta_line(what: str, done: int, total: int, t0: float, now: float | None = None) -> str:
    """`done of total what`, the time so far and, once something is done, the time left at the pace so far."""
    elapsed = (time.perf_counter() if now is None else now) - t0
    line = f"{done} of {total} {what} · {_seconds(elapsed)} so far"
    if 0 < done < total:
        line += f", about {_seconds(elapsed * (total - done) / done)} left"
    return line
