"""The one model of the process, shared by every browser session and the command line.

Why a store: a 135M model is ~0.5 GB and a 7B one ~15 GB; each session holding its own copy
would run out of memory with a handful of users. Sessions keep only light data (set names, a
run id); all work on the model goes through one queue in the app, and this lock keeps a model
swap from happening under a running generation.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable

import torch

from .models import LoadedModel, Progress, load_model, reload


class ModelStore:
    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._current: LoadedModel | None = None

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

    def replace(self, lm: LoadedModel) -> None:
        with self._lock:
            old, self._current = self._current, lm
            if old is not None and old.model is not lm.model:
                del old
                _free_memory()

    def transform(self, fn: Callable[[LoadedModel], LoadedModel]) -> LoadedModel:
        """Replace the current model by `fn(current)` under the lock (e.g. teaching).

        `fn` may change the current weights in place; if it fails, the current model is reloaded
        from disk, so a failure never leaves a half-changed model behind."""
        with self._lock:
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
