"""Give freed host memory back to the operating system as soon as a large tensor is freed.

glibc's malloc serves large blocks with mmap and returns them on free, but it raises that size
threshold (up to 32 MiB) each time such a block is freed, so after the first training step the
activations of every later step come from the heap, which glibc keeps. A CPU process then holds its
largest step's memory for good: on the bundled model an NPO + LoRA step of batch 8 left the process at
5.1x the model's bytes between steps and peaked at 5.3x; with the threshold fixed at 128 KiB the
process fell back to 1.2x after the step and peaked at 3.7x (issue 19, /proc VmHWM, one run each).
Fixing the threshold (which also stops the adjustment) costs one page fault per page of each
large tensor, small next to the matmuls that fill it.

Only glibc (Linux) has `mallopt`; elsewhere, or where the C library cannot be loaded, nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number (malloc.h)
MMAP_THRESHOLD_BYTES = 128 * 1024  # glibc's own starting value, kept fixed instead of growing
_done = False


def return_freed_memory() -> bool:
    """Fix glibc's mmap threshold for this process (once); whether it took effect."""
    global _done
    if _done or not sys.platform.startswith("linux"):
        return _done
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        _done = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt): leave the allocator alone
        _done = False
    return _done
