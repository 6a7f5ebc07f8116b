"""A set named on the command line: a built-in selection, a data file or a hub dataset (issue 16).

    harry_potter, tofu:forget01         a built-in set, or one of its subsets
    data/my_forget.jsonl                a file: JSON, JSON Lines, CSV/TSV or text, read as the app reads an upload
    hub:locuslab/TOFU:forget10:train    a hub dataset, hub:ORG/NAME[:CONFIG][:SPLIT] (a local dataset folder too)

so a reviewer scripts an audit of a published checkpoint on a published forget set.

>>> parse_hub("hub:locuslab/TOFU:forget10")
('locuslab/TOFU', 'forget10', 'train')
>>> parse_hub("hub:muse-bench/MUSE-News:knowmem")
('muse-bench/MUSE-News', 'knowmem', 'forget_qa')
"""

from __future__ import annotations

from pathlib import Path

from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.data.formats import DataError
from unlearn.data.hub_data import PRESETS, load_hub_examples
from unlearn.data.schemas import load_upload

HUB = "hub:"
HUB_FORM = "hub:ORG/NAME[:CONFIG][:SPLIT]"
SET_HELP = f"a built-in set (set:subset), a data file (JSON, JSON Lines, CSV/TSV, text) or {HUB_FORM}"
DEFAULT_SPLIT = "train"


def parse_hub(value: str) -> tuple[str, str | None, str]:
    """(repo id, config or None, split) of `hub:ORG/NAME[:CONFIG][:SPLIT]`; the split defaults to the
    known benchmark's usual one (MUSE knowmem: forget_qa, WMDP: test), else train."""
    repo, _, rest = value.removeprefix(HUB).partition(":")
    config, _, split = rest.partition(":")
    if not repo.strip():
        raise DataError(f"{value!r}: write a hub dataset as {HUB_FORM}, e.g. hub:locuslab/TOFU:forget10")
    if not split:
        preset = next((p for p in PRESETS.values() if p.repo_id == repo), None)
        split = preset.splits_for(config or preset.default_config)[0] if preset else DEFAULT_SPLIT
    return repo.strip(), config.strip() or None, split.strip()


def _file(value: str) -> Path | None:
    path = Path(value).expanduser()
    return path if value and path.suffix and path.is_file() else None


def set_name(value: str) -> str:
    """How a run records a set: a data file by its absolute path (so an audit started from another
    folder finds it), a built-in selection or a hub dataset as given."""
    path = _file(value)
    return str(path.resolve()) if path else value


def load_set(value: str) -> list[Example]:
    """The items of a set named as in the module docstring (every row of a hub split)."""
    if value.startswith(HUB):
        return load_hub_examples(*parse_hub(value), limit=None)[1]
    path = _file(value)
    if path:
        return load_upload(path.read_bytes(), path.name)[1]
    return load_selection(value).examples
