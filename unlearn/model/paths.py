"""Where the app keeps what it writes (converted models, taught models, runs) and where its own files are."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

APP_NAME = "unlearning-inspector"
PROJECT = Path(__file__).resolve().parents[2]  # the checkout: app.py, assets/, unlearn/
ASSETS = PROJECT / "assets"
CACHE_ENV = "UNLEARN_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder: $UNLEARN_CACHE_DIR, else the user's cache dir (~/.cache/unlearning-inspector)."""
    root = os.environ.get(CACHE_ENV) or platformdirs.user_cache_dir(APP_NAME)
    path = Path(root).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_dir(final: Path) -> Iterator[Path]:
    """Yield a temporary folder beside `final`; rename it into place only if the block succeeds.

    Why: a model conversion or a run killed half-way must never leave a folder that looks
    complete. A rename within one filesystem is atomic, so readers see all or nothing.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():  # another process finished first: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
