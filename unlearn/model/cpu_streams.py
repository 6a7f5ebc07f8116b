"""Independent forwards side by side on a CPU, each on its share of the cores.

On a CPU torch runs one op at a time across all its threads. Between the matrix products, the Python
of the model's modules, the elementwise passes and the threads' hand-offs leave cores idle, and two
threads multiply matrices at well under twice the rate of one (on the README's 2-core machine, 109
against 68 GFLOP/s for 2048² products). Two forwards that do not depend on each other (two scoring
batches, two REMIND neighbourhoods, two halves of a greedy decoding, two GradNorm batches) fill those
gaps when each runs on half the threads. Measured alternating there: REMIND's neighbourhoods took 21%
less time with the same losses to the last bit, both of the quick demo's whole sets scored 9% less, the
audit's 100 greedy answers 14% less and GradNorm 13% less (docs/measurements.md).

`stream_map` is a plain loop wherever this does not apply: on a GPU (one forward at a time keeps the
device busy), with one intra-op thread, inside a stream (no nesting), or for fewer than two items.

Each forward computes what it would alone; only the thread count of its matrix products changes,
which can move the last bits of a float sum. torch's thread count is process-wide, so while streams
run, every torch op of the process runs on the smaller share; the last stream to finish puts the
count back. Grad mode is per thread, so `fn` must set its own (`torch.inference_mode`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import TypeVar

import torch

STREAMS = 2  # forwards side by side: more would cut one forward's matrix products too thin on a few cores

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
_users = 0  # stream_map calls under way in the process (the app serves several sessions)
_threads_before = 0  # torch's thread count before the first of them split it
_pool: ThreadPoolExecutor | None = None
_inside = threading.local()  # .stream is True in a pool thread: a nested stream_map runs as a plain loop


def streams(device: torch.device) -> int:
    """How many forwards `stream_map` runs side by side on `device` from this thread (1: a plain loop)."""
    if device.type != "cpu" or torch.get_num_threads() < STREAMS or getattr(_inside, "stream", False):
        return 1
    return STREAMS


def batch_size_for(n_items: int, batch_size: int, device: torch.device) -> int:
    """The batch size that splits `n_items` into a multiple of the streams (at most `batch_size` rows),
    so no stream waits idle for the last batch: with two streams, 16 items in two batches of 8 and 110 in
    eight of 14; with one (a GPU), `batch_size` as given.

    >>> batch_size_for(110, 16, torch.device("meta"))
    16
    """
    n = streams(device)
    if n == 1 or n_items == 0:
        return batch_size
    return max(1, math.ceil(n_items / (n * math.ceil(n_items / (n * batch_size)))))


@contextmanager
def _split_threads() -> Iterator[tuple[int, ThreadPoolExecutor]]:
    """torch's threads divided among the streams while any stream_map runs (the count before, after);
    yields each stream's share and the pool the streams run in."""
    global _users, _threads_before, _pool
    with _lock:
        if _users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(max(1, _threads_before // STREAMS))
        _users += 1
        share = max(1, _threads_before // STREAMS)
        if _pool is None:
            _pool = ThreadPoolExecutor(STREAMS, thread_name_prefix="unlearn-stream")
        pool = _pool
    try:
        yield share, pool
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                torch.set_num_threads(_threads_before)


def stream_map(fn: Callable[[T], R], items: Iterable[T], device: torch.device) -> Iterator[R]:
    """`fn` of each item, in the items' order, as many at a time as `streams(device)` says. Results come
    as they are ready in order, so a caller can report progress; an error in `fn` is raised here."""
    items = list(items)
    if streams(device) == 1 or len(items) < 2:
        yield from map(fn, items)
        return
    with _split_threads() as (share, pool):

        def run(item: T) -> R:
            # MKL's thread count is per thread (torch sets it with mkl_set_num_threads_local)
            torch.set_num_threads(share)
            _inside.stream = True
            return fn(item)

        futures = [pool.submit(run, item) for item in items]
        try:
            for future in futures:
                yield future.result()
        finally:
            # after an error (or a caller that stops reading) no item may still run once the thread
            # count is put back: it would set the share again for the whole process
            for future in futures:
                future.cancel()
            wait(futures)
