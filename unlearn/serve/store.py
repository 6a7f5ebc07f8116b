"""The one model of the process, shared by every browser session and the command line.

Why a store: a 135M model is ~0.5 GB and a 7B one ~15 GB; each session holding its own copy
would run out of memory with a handful of users. Sessions keep only light data (set names, a
run id); all work on the model goes through one queue in the app, and this lock keeps a model
swap from happening under a running generation.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from unlearn.model.models import LoadedModel, Progress, load_model, reload
from unlearn.train.params import Trainable
from unlearn.train.runs import split_ref


@dataclass
class ActiveRun:
    """The run whose weights are on the shared model now: the model is its "after"."""

    run_dir: str  # the run reference: its folder, or `folder#step=N` for one of its saved steps (runs.run_ref)
    record: dict[str, Any]
    trainable: Trainable  # reference() = "before"; reset() = back to the model as loaded

    @property
    def folder(self) -> Path:
        return Path(split_ref(self.run_dir)[0])

    @property
    def step(self) -> int | None:
        return split_ref(self.run_dir)[1]

    @property
    def label(self) -> str:
        """The run's id, and the step where the model holds a saved step rather than the run's end."""
        step = self.step
        return self.record["id"] + (f" at step {step}" if step is not None else "")


class ModelStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._current: LoadedModel | None = None
        self._run: ActiveRun | None = None

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def current(self) -> LoadedModel | None:
        return self._current

    def require(self) -> LoadedModel:
        """The loaded model, or a message telling the user to load one."""
        if self._current is None:
            raise RuntimeError("No model is loaded yet: load one in the Model & data tab.")
        return self._current

    def load(
        self, ref: str, device: str | None = None, trust_remote_code: bool = False, progress: Progress | None = None
    ) -> LoadedModel:
        """Load `ref` and make it current. If loading fails, the previous model stays loaded."""
        with self._lock:
            new = load_model(ref, device=device, trust_remote_code=trust_remote_code, progress=progress)
            self.replace(new)
            return new

    def active_run(self) -> ActiveRun | None:
        return self._run

    def set_run(self, run: ActiveRun | None) -> None:
        """Make `run` the active one; the previous run's weights are removed first."""
        with self._lock:
            self.clear_run()
            self._run = run

    def clear_run(self) -> None:
        """Back to the model as loaded (the active run stays saved on disk)."""
        with self._lock:
            if self._run is not None:
                self._run.trainable.reset()
                self._run = None

    @contextmanager
    def before(self) -> Iterator[LoadedModel]:
        """The model as it was before the active run (the model itself when no run is active)."""
        with self._lock:
            lm = self.require()
            if self._run is None:
                yield lm
            else:
                with self._run.trainable.reference():
                    yield lm

    def replace(self, lm: LoadedModel) -> None:
        with self._lock:
            if self._current is not None and lm.model is not self._current.model:
                self._run = None  # the run's weights went with the old model
            old, self._current = self._current, lm
            if old is not None and old.model is not lm.model:
                del old
                _free_memory()

    def transform(self, fn: Callable[[LoadedModel], LoadedModel]) -> LoadedModel:
        """Replace the current model by `fn(current)` under the lock (e.g. teaching).

        `fn` may change the current weights in place; if it fails, the current model is reloaded
        from disk, so a failure never leaves a half-changed model behind."""
        with self._lock:
            self.clear_run()
            cur = self.require()
            try:
                new = fn(cur)
            except BaseException:
                self.replace(reload(cur))
                raise
            self.replace(new)
            return new


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


STORE = ModelStore()
