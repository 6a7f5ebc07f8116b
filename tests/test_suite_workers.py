"""The suite's own set-up: `make test` runs it in pytest-xdist workers, and conftest.py gives each worker,
and every process a test starts, its share of the cores. Without it two workers each ran torch at one
thread per core and the suite took longer than serially (938 s against 889 s on 2 cores, README)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch


def test_each_worker_and_its_child_processes_get_their_share_of_the_cores() -> None:
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers == 1:
        pytest.skip("run serially: torch keeps its default of one thread per core")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    share = max(1, cores // workers)  # e.g. 2 cores, 2 workers: 1 thread each
    assert torch.get_num_threads() == share
    child = subprocess.run(
        [sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(child.stdout.strip()) == share  # what a training or server process started by a test uses
