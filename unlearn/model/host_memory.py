"""Freed host (CPU) memory: give it back to the operating system after a job, and, for memory
measurements only, at every free.

glibc's malloc serves large blocks with mmap and returns them on free, but it raises that size
threshold (up to 32 MiB) each time such a block is freed, so after the first training step the
activations of every later step come from the heap, which glibc keeps. A CPU process then holds its
largest step's memory for good: on the bundled model an NPO + LoRA run of batch 8 held 3.5x the model's
bytes between steps (issue 19, /proc RSS).

- `trim()` (glibc's `malloc_trim(0)`) hands every free heap page back. The engine calls it when a run
  ends, so the app goes back to ~1.2x the model between runs. It is not called between steps: the next
  step would fault the same pages in again.
- `exact_frees()` fixes the mmap threshold at 128 KiB, so every tensor above it is its own mapping,
  returned the moment it is freed. Resident memory then follows the live tensors, which is what
  torch's `max_memory_allocated` counts on a GPU; the bench's memory sessions use it for that reason.
  It is not the default: every large allocation then faults in fresh zeroed pages, which halved the
  speed of CPU training steps (bundled model, NPO + LoRA, batch 8: 0.199 -> 0.104 steps/s; 2026-12-01).

Only glibc (Linux) has these calls; elsewhere, or where the C library cannot be loaded, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from functools import cache

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed instead of growing


@cache
def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (it has mallopt and malloc_trim), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 - musl has neither: leave the allocator alone
    except (OSError, AttributeError):
        return None
    return libc


def trim() -> bool:
    """Give the heap's free pages back to the operating system now; whether glibc could be asked."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)  # returns 1 when memory was released, 0 when there was none: both are fine
    return True


@cache
def exact_frees() -> bool:
    """From now on, return every freed tensor above 128 KiB at once (for memory measurements: see the
    module's docstring for the speed it costs); whether it took effect."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
