"""Long jobs on the shared model, run in a worker thread and reported step by step.

The app's handlers are generators that must yield between steps (so the page updates and Cancel
works); the training itself is blocking. A `Job` runs the blocking work in a thread and hands the
generator each step through a queue; `cancel()` asks the work to stop at the next step boundary.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from unlearn.audit.audit_record import save_audit, to_record
from unlearn.audit.pipeline import AuditConfig, run_audit
from unlearn.data.examples import Example
from unlearn.model.pair import current
from unlearn.serve.store import ActiveRun, ModelStore
from unlearn.train.engine import RunOutcome, RunSpec, run_unlearning
from unlearn.train.loop import StepInfo
from unlearn.train.runs import in_progress, save_run


@dataclass
class Event:
    kind: str  # "step", "done" or "error"
    payload: Any


class Job:
    """Run `work(on_step, should_stop)` in a thread; iterate to receive its events."""

    def __init__(self, work: Callable[[Callable[[StepInfo], None], Callable[[], bool]], Any]) -> None:
        self._q: queue.Queue[Event] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, args=(work,), daemon=True)
        self._thread.start()

    def _main(self, work: Callable) -> None:
        try:
            result = work(lambda s: self._q.put(Event("step", s)), self._stop.is_set)
            self._q.put(Event("done", result))
        except BaseException as e:  # reported to the page, never lost in a thread
            self._q.put(Event("error", e))

    def cancel(self) -> None:
        self._stop.set()

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def events(self) -> Iterator[Event]:
        while True:
            ev = self._q.get()
            yield ev
            if ev.kind in ("done", "error"):
                return


def unlearn_job(
    store: ModelStore,
    spec: RunSpec,
    forget: list[Example],
    retain_train: list[Example],
    retain_eval: list[Example],
    sets: dict[str, str],
) -> Callable[[Callable[[StepInfo], None], Callable[[], bool]], tuple[RunOutcome, str]]:
    """The work of one unlearning run on the shared model: undo the previous run, unlearn, save
    the run (finished or cancelled) and make it the active one. Holds the model lock throughout."""

    def work(on_step: Callable[[StepInfo], None], should_stop: Callable[[], bool]) -> tuple[RunOutcome, str]:
        with store.lock:
            store.clear_run()
            lm = store.require()
            with in_progress(spec.method, lm, sets):  # a crash leaves the run marked "interrupted"
                out = run_unlearning(lm, spec, forget, retain_train, retain_eval, on_step, should_stop)
                run_dir = save_run(out, lm, sets)
            record = {"id": run_dir.name, "method": spec.method, "status": "cancelled" if out.cancelled else "finished"}
            store.set_run(ActiveRun(str(run_dir), record, out.trainable))
            return out, str(run_dir)

    return work


class Cancelled(Exception):
    """Raised inside a job's work when Cancel was pressed; context managers on the way out restore the model."""


def audit_job(
    store: ModelStore,
    sets: dict[str, list[Example]],
    cfg: AuditConfig,
    meta: dict[str, Any],
) -> Callable[[Callable[[str], None], Callable[[], bool]], dict[str, Any]]:
    """The work of one audit on the shared model as it is now (the active run's *after*, or the model
    as loaded): score, build the record and save it beside the run. Holds the model lock throughout."""

    def work(on_step: Callable[[str], None], should_stop: Callable[[], bool]) -> dict[str, Any]:
        def say(msg: str) -> None:
            if should_stop():
                raise Cancelled("audit cancelled")
            on_step(msg)

        with store.lock:
            lm = store.require()
            p = current(store)
            active = p.run
            trainable = active.trainable if active else None
            result = run_audit(lm.model, lm.tokenizer, sets, p.reference, cfg, say, trainable)
            run = (
                {"id": active.record["id"], "method": active.record.get("method"), "step": active.step}
                if active
                else {}
            )
            record = to_record(result, {**meta, "run": {**run, "model": lm.name}})
            if active:
                save_audit(active.folder, record, active.step)
            return record

    return work
