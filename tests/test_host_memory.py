"""A CPU process gives freed tensor memory back (issue 19: training memory). Without the fixed mmap
threshold, glibc serves repeated 16 MiB allocations from its heap after the first free and keeps
them: the control below holds ~450 MiB here (~100 MiB on the CI machine, whose glibc trims more of
the heap top) after the tensors are gone; with it, ~0."""

from __future__ import annotations

import subprocess
import sys

import pytest

from unlearn.model.paths import PROJECT

SCRIPT = """
import os, sys, torch
from pathlib import Path
def rss(): return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
if sys.argv[1] == "fix":
    from unlearn.model.host_memory import return_freed_memory
    assert return_freed_memory() and return_freed_memory()  # once, then a no-op that still says yes
base = rss()
for _ in range(3):  # three "steps" of 20 x 16 MiB activations, touched and freed
    xs = [torch.ones(1024, 4096) for _ in range(20)]
    del xs
print((rss() - base) / 2**20)
"""


def _held_mib(mode: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, cwd=PROJECT, check=True
    ).stdout
    return float(out.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_freed_tensors_leave_the_process_with_the_fixed_threshold() -> None:
    fixed, control = _held_mib("fix"), _held_mib("control")
    assert fixed < 64
    # The allocator behaviour the fix is for (20 x 16 MiB = 320 MiB per step): how much of it the
    # heap keeps depends on the machine (450 MiB here, 100 MiB on CI), but it always keeps more.
    assert control > fixed + 32, (fixed, control)
