"""Many users on one server: N `gradio_client` sessions while one unlearning run trains.

Used by tests/test_sessions.py (tiny model) and, from the command line, for the README's figures:

    .venv/bin/python tests/sessions.py --model bundled --sessions 8
    .venv/bin/python tests/sessions.py --model bundled --sessions 30

What happens, and what is checked:
1. every session compares its own forget item (all submitted at once: they queue for the model);
2. one more session starts an unlearning run;
3. while it trains, every session asks its own question (work on the model: it waits in the one
   model queue and is told its place) and redraws its token panel (no model: answered at once,
   from that session's own kept arrays, which must equal its own comparison and no one else's);
4. after the run, a fresh session asks the same questions one at a time: every answer given under
   load must be the same.
The server's resident memory is sampled throughout (the process and its children).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psutil
from gradio_client import Client
from gradio_client.utils import Status

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.browser import app_server
else:
    from .browser import app_server

FORGET, RETAIN = "harry_potter", "general_knowledge"
QUESTIONS = [
    "What is the capital of France?",
    "Who wrote Romeo and Juliet?",
    "What is the largest planet in the solar system?",
    "Who painted the Mona Lisa?",
    "What is the chemical symbol for gold?",
    "Who developed the theory of relativity?",
    "What is the capital of Japan?",
    "How many legs does a spider have?",
]


class RssWatch(threading.Thread):
    """Samples the resident memory of a process and its children until stopped; keeps the peak."""

    def __init__(self, pid: int, every: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.proc, self.every = psutil.Process(pid), every
        self.start_rss = self.peak = self._rss()
        self._stop_event = threading.Event()

    def _rss(self) -> int:
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
            return sum(p.memory_info().rss for p in procs)
        except psutil.Error:
            return 0

    def run(self) -> None:
        while not self._stop_event.wait(self.every):
            self.peak = max(self.peak, self._rss())

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak


def compare_args(item: int) -> list[Any]:
    # source, kind, item, text, max new tokens, sample, temperature, seed, k share, lens metric, forget, retain
    return ["__active__", "Forget item", str(item), None, 16, False, 0.7, 0, 0.2, "probability", FORGET, RETAIN]


def run_args(client: Client, steps: int, forget: str = "harry_potter:known") -> list[Any]:
    """The Unlearn tab's defaults for NPO (quick preset, LoRA) with the step count changed."""
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/run"]["parameters"]
    args = {p["parameter_name"]: p["parameter_default"] for p in api}
    args.update(method_id="npo", steps=steps, forget=forget, retain=RETAIN)
    return [args[p["parameter_name"]] for p in api]


def _plot(fig: dict[str, Any]) -> list[Any] | None:
    """A plot's traces; None when the server sent no figure (a session whose arrays it no longer keeps)."""
    return json.loads(fig["plot"])["data"] if isinstance(fig, dict) and "plot" in fig else None


def wait_training(run, deadline: float) -> None:
    """Until the run has reported its first step (it holds the model from then on)."""
    while time.time() < deadline:
        if run.done():
            raise AssertionError(f"the run ended before the sessions could ask: {run.outputs()[-1:]}")
        if any(str(o[0]).startswith("⏳ Step") for o in run.outputs()):
            return
        time.sleep(0.05)
    raise TimeoutError("the run did not start training")


def session_load(
    url: str, pid: int, n: int = 8, steps: int = 8, cancel: bool = False, timeout: float = 1800
) -> dict[str, Any]:
    """Drive n sessions through steps 1-4 (see the module docstring); return what was measured.
    With cancel=True the run is cancelled once the checks made during it are done (a long run
    then keeps a fast test independent of the machine's speed)."""
    watch = RssWatch(pid)
    watch.start()
    deadline = time.time() + timeout
    with ThreadPoolExecutor(n) as pool:
        clients = list(pool.map(lambda _: Client(url, verbose=False), range(n)))
    t0 = time.time()
    own = [j.result(timeout) for j in [c.submit(*compare_args(i), api_name="/compare") for i, c in enumerate(clients)]]
    compare_s = time.time() - t0
    failed = [o[0] for o in own if not str(o[0]).startswith("**Before**")]
    assert not failed, failed

    runner = Client(url, verbose=False)
    run = runner.submit(*run_args(runner, steps), api_name="/run")
    wait_training(run, deadline)
    questions = [QUESTIONS[i % len(QUESTIONS)] + " " * (i // len(QUESTIONS)) for i in range(n)]
    t_ask = time.time()
    asks = [c.submit(q, 24, api_name="/ask") for c, q in zip(clients, questions, strict=True)]
    ranks: list[set[int]] = [set() for _ in asks]
    sizes: set[int] = set()
    while not all(r for r in ranks) and time.time() < deadline and not run.done():
        for r, a in zip(ranks, asks, strict=True):
            s = a.status()
            if s.code == Status.IN_QUEUE and s.rank is not None:
                r.add(s.rank)
                sizes.add(s.queue_size or 0)
        time.sleep(0.05)
    t1 = time.time()
    redraws = [c.predict(0.2, api_name="/compare_tokens") for c in clients]
    redraw_s = (time.time() - t1) / n
    run_busy = not run.done()  # the light panels answered while the run still held the model
    if cancel:
        assert "Cancelling" in runner.predict(api_name="/cancel")
    final = run.result(timeout)
    run_end_s = time.time() - t_ask
    answers = [a.result(timeout) for a in asks]
    asks_s = time.time() - t_ask
    check = Client(url, verbose=False)
    expected = [check.predict(q, 24, api_name="/ask") for q in questions]
    peak = watch.stop()
    return dict(
        sessions=n,
        compare_all_s=round(compare_s, 1),
        run_status=str(final[0]).splitlines()[0],
        run_left_after_asks_s=round(run_end_s, 1),
        all_answered_s=round(asks_s, 1),
        ranks_seen=[sorted(r) for r in ranks],
        queue_sizes_seen=sorted(sizes),
        redraw_ms=round(1000 * redraw_s),
        panels_answered_during_run=run_busy,
        own_panel=[_plot(r) == _plot(o[3]) for r, o in zip(redraws, own, strict=True)],
        others_panel=sum(_plot(r) == _plot(o[3]) for i, r in enumerate(redraws) for j, o in enumerate(own) if i != j),
        answers_match=[a == e for a, e in zip(answers, expected, strict=True)],
        answers=answers,
        rss_start_mb=round(watch.start_rss / 2**20),
        rss_peak_mb=round(peak / 2**20),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="bundled")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8, help="unlearning steps of the run made meanwhile")
    ap.add_argument("--cache", default=None, help="UNLEARN_CACHE_DIR for the server (default: the usual cache)")
    a = ap.parse_args()
    env = {"UNLEARN_CACHE_DIR": a.cache} if a.cache else {}
    env["UNLEARN_RUNS_DIR"] = tempfile.mkdtemp(prefix="sessions-runs-")  # the run made meanwhile is thrown away
    t = time.time()
    with app_server(a.model, env, timeout=600) as (url, proc):
        print(f"server up in {time.time() - t:.0f} s", flush=True)
        got = session_load(url, proc.pid, a.sessions, a.steps)
    print(json.dumps(got, ensure_ascii=False))


if __name__ == "__main__":
    main()
