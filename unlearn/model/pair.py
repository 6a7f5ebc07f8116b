"""The pair to compare: before and after on the one shared model, whatever the after is made of.

"After" is a saved run's weights put on the model as loaded: LoRA adapters (adapters off = before),
swapped tensors of a full or subset run (before = the saved originals swapped back), or an imported
checkpoint, which is saved as a run of either kind (`import_pair`). The Compare, Audit and Runs tabs
ask this module for a pair and use `before()` / `after()` without knowing which kind they hold;
putting runs on the model, importing and exporting go through here too, under the model's lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from unlearn.errors import UserError
from unlearn.model.export_run import export_run
from unlearn.model.import_pair import after_folder, check_vocabulary, save_pair
from unlearn.model.models import LoadedModel, Progress
from unlearn.serve.access import AccessPolicy
from unlearn.serve.store import STORE, ActiveRun, ModelStore
from unlearn.train.runs import PENDING, RUN_FILE, apply_run, run_ref, split_ref

# the pickers' two choices that are not a saved run
ACTIVE, AGAINST_ITSELF = "__active__", "__self__"  # the run on the model now; the model against itself


@dataclass
class Pair:
    """Before and after on the shared model. Use under `STORE.lock` (the pickers take it): another
    session must not swap the run between a pair's two sides."""

    store: ModelStore
    label: str  # what "after" is, for the page: "run `ID` (npo)", "the model as loaded (no run)"
    run: ActiveRun | None  # the run on the model, None where before = after
    against_itself: bool = False

    @property
    def has_run(self) -> bool:
        return self.run is not None and not self.against_itself

    @property
    def run_dir(self) -> str | None:
        return self.run.run_dir if self.has_run and self.run else None

    def before(self) -> AbstractContextManager[Any]:
        """Within the block the model computes as loaded."""
        return self.store.before()

    def after(self) -> AbstractContextManager[Any]:
        """Within the block the model computes as after (the model as loaded for a pair against itself)."""
        return self.store.before() if self.against_itself else nullcontext()

    def reference(self) -> AbstractContextManager[Any]:
        """`before()` for code that is handed the after model and a context for the other side."""
        return self.run.trainable.reference() if self.has_run and self.run else nullcontext()

    def side_by_side(self) -> AbstractContextManager[None] | None:
        """One pass computing row 0 as before and row 1 as after (LoRA), or None (a pass per side)."""
        return self.run.trainable.side_by_side() if self.has_run and self.run else None


def require_saved(run_dir: str) -> None:
    if str(run_dir).endswith(PENDING):
        raise UserError(
            f"{Path(run_dir).name.removesuffix(PENDING)} was interrupted (the app stopped during the run): nothing "
            "was saved, so there is nothing to load or export. Delete it from the list."
        )


def require_run_folder(run_dir: str) -> None:
    """A path that is not a saved run (a typo, a file, a NUL byte) gets a message, not raw OS error text."""
    try:
        ok = (Path(run_dir) / RUN_FILE).is_file()
    except (OSError, ValueError):  # ValueError: an embedded NUL byte
        ok = False
    if not ok:
        raise UserError(f"{str(run_dir)[:200]!r} is not a saved run (no run.json there): pick one from the list.")


def read_record(run_dir: str, access: AccessPolicy) -> dict[str, Any]:
    """A saved run's record after the checks every action on a run makes (allowed, saved, a run)."""
    access.check_run(run_dir)
    require_saved(run_dir)
    require_run_folder(run_dir)
    return json.loads((Path(run_dir) / RUN_FILE).read_text())


def activate(ref: str, access: AccessPolicy, user: str | None = None, store: ModelStore = STORE) -> dict[str, Any]:
    """Put a saved run's weights (its end, or a saved step `RUN_DIR#step=N`) on the shared model (its
    *after*), unless they are already there; only an operator (where the server names them) may switch
    the run everyone sees. Returns the run's record."""
    run_dir, step = split_ref(ref)
    record = read_record(run_dir, access)
    lm = store.require()
    if record["model"]["ref"] != lm.source.ref:
        raise UserError(f"This run was made on {record['model']['name']}; load that model first (Model & data).")
    with store.lock:
        active = store.active_run()
        if active is None or (active.folder, active.step) != (Path(run_dir), step):
            access.check_operator(user, "put another saved run on the model")
            store.clear_run()
            try:
                tr = apply_run(lm, Path(run_dir), step)
            except (SafetensorError, RuntimeError, KeyError) as e:  # a damaged weights file or record
                raise UserError(
                    f"run {Path(run_dir).name} could not be put on the model ({type(e).__name__}: {e}); "
                    "the model is as loaded. Its files are damaged: delete the run."
                ) from e
            store.set_run(ActiveRun(run_ref(Path(run_dir), step), record, tr))
    return record


def pick(source: str | None, access: AccessPolicy, user: str | None = None, store: ModelStore = STORE) -> Pair:
    """The pair a picker names: the run on the model now (ACTIVE or empty), the model against itself,
    or a saved run's reference (put on the model first). Call under `store.lock`."""
    if source == AGAINST_ITSELF:
        return Pair(store, "the model as loaded (no run)", store.active_run(), against_itself=True)
    if source and source != ACTIVE:
        activate(source, access, user, store)
    return current(store)


def current(store: ModelStore = STORE) -> Pair:
    """The pair on the model now: the active run's before and after, or the model as loaded twice."""
    run = store.active_run()
    if run is None:
        return Pair(store, "the model as loaded (no run yet)", None)
    after = run.record.get("after")
    if after:  # an imported checkpoint: say where it came from
        return Pair(store, f"imported checkpoint `{after.get('name')}` (run `{run.label}`)", run)
    return Pair(store, f"run `{run.label}` ({run.record['method']})", run)


@contextmanager
def without_run(store: ModelStore = STORE) -> Iterator[LoadedModel]:
    """The model as loaded, with no run on it, for the block; the run that was on it is put back."""
    with store.lock:
        lm = store.require()
        was = store.active_run()
        store.clear_run()
        try:
            yield lm
        finally:
            if was is not None and store.current() is lm:
                folder, step = split_ref(was.run_dir)
                store.set_run(ActiveRun(was.run_dir, was.record, apply_run(lm, Path(folder), step)))


def import_after(
    after: str,
    access: AccessPolicy,
    user: str | None = None,
    name: str | None = None,
    progress: Progress | None = None,
    store: ModelStore = STORE,
) -> dict[str, Any]:
    """Pair the checkpoint `after` with the loaded model, save the pair as a run and put it on the model
    (the next Compare or Audit sees it); the record of the new run. On failure nothing changes."""
    after = (after or "").strip()
    if not after:
        raise UserError("Give the after checkpoint: a model folder, a hub id, a .gguf file or a PEFT adapter folder.")
    access.check_model(after)
    access.check_operator(user, "import a checkpoint onto the model")
    kind, folder = after_folder(after, progress)  # found (downloaded, converted) before the model is touched
    check_vocabulary(store.require().tokenizer, folder)
    with without_run(store) as lm:
        run_dir = save_pair(lm, after, kind, folder, name or None, None)
    return activate(str(run_dir), access, user, store)


def export(ref: str, fmt: str, out: Path, access: AccessPolicy, store: ModelStore = STORE) -> Path:
    """Write a saved run (or a kept step) as `fmt` into `out` (see `export_run`); the model is left as it was."""
    run_dir, step = split_ref(ref)
    read_record(run_dir, access)  # allowed, saved, a run: before the model is touched
    with without_run(store) as lm:
        return export_run(lm, Path(run_dir), fmt, out, step)  # which also refuses a run of another model
