"""Benchmark datasets from the Hugging Face hub, turned into `Example`s.

Every failure (no network, offline mode, a dataset that is not cached, a wrong config or split)
comes back as a `DataError` that says what to do, never as a raw traceback.

>>> PRESETS["wmdp"].repo_id, PRESETS["wmdp"].default_split
('cais/wmdp', 'test')
>>> PRESETS["muse_news"].splits_for("knowmem")
['forget_qa', 'retain_qa', 'forget_qa_icl', 'retain_qa_icl']
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import datasets
import huggingface_hub

from unlearn.data.examples import Example
from unlearn.data.formats import DataError
from unlearn.data.schemas import ColumnMapping, records_to_examples


@dataclass
class HubPreset:
    repo_id: str
    configs: list[str]
    default_config: str | None
    default_split: str
    description: str
    # Split names per config where they differ from `default_split`.
    splits: dict[str, list[str]] = field(default_factory=dict)

    def splits_for(self, config: str | None) -> list[str]:
        return self.splits.get(config or "", [self.default_split])


_TOFU_BASE = ["forget01", "forget05", "forget10", "retain90", "retain95", "retain99"]
_TOFU_BASE += ["holdout01", "holdout05", "holdout10", "real_authors", "world_facts"]
# TOFU has one perturbed retain config (retain_perturbed), not one per retain size.
_TOFU_PERTURBED = ["forget01_perturbed", "forget05_perturbed", "forget10_perturbed", "retain_perturbed"]
_TOFU_PERTURBED += ["real_authors_perturbed", "world_facts_perturbed"]

# MUSE split names, from the MUSE-News / MUSE-Books dataset cards.
_MUSE_SPLITS = {
    "raw": ["forget", "retain1", "retain2", "holdout"],
    "verbmem": ["forget"],
    "knowmem": ["forget_qa", "retain_qa", "forget_qa_icl", "retain_qa_icl"],
}

_RWKU_CONFIGS = ["forget_target", "forget_level1", "forget_level2", "forget_level3"]
_RWKU_CONFIGS += ["neighbor_level1", "neighbor_level2", "mia_forget", "mia_retain"]

PRESETS: dict[str, HubPreset] = {
    "tofu": HubPreset(
        "locuslab/TOFU",
        _TOFU_BASE + _TOFU_PERTURBED,
        "forget10_perturbed",
        "train",
        "TOFU: QA about 200 fictitious authors; *_perturbed configs add paraphrased and wrong answers.",
    ),
    "muse_news": HubPreset(
        "muse-bench/MUSE-News",
        list(_MUSE_SPLITS),
        "knowmem",
        "forget_qa",
        "MUSE-News: BBC articles; raw text, verbatim-memorisation prompts, knowledge QA.",
        _MUSE_SPLITS,
    ),
    "muse_books": HubPreset(
        "muse-bench/MUSE-Books",
        list(_MUSE_SPLITS),
        "knowmem",
        "forget_qa",
        "MUSE-Books: Harry Potter books; raw text, verbatim-memorisation prompts, knowledge QA.",
        _MUSE_SPLITS,
    ),
    "wmdp": HubPreset(
        "cais/wmdp",
        ["wmdp-bio", "wmdp-cyber", "wmdp-chem"],
        "wmdp-bio",
        "test",
        "WMDP: multiple-choice questions on hazardous biology, cyber and chemistry knowledge.",
    ),
    "rwku": HubPreset(
        "jinzhuoran/RWKU",
        _RWKU_CONFIGS,
        "forget_level1",
        "test",
        "RWKU: 200 real famous people; forget / neighbour probes at three levels and MIA passages.",
        # Only forget_target lives in "train" (as in RWKU's own data_process.py); the rest is "test".
        {"forget_target": ["train"]},
    ),
}

_OFFLINE_HELP = (
    "Download the data on a machine with internet access (e.g. the dataset's files from "
    "huggingface.co/datasets/{repo}) and upload the file here instead."
)


def _offline_requested() -> bool:
    return any(
        os.environ.get(v, "").strip().upper() in {"1", "ON", "YES", "TRUE"}
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


@contextlib.contextmanager
def _honour_offline_env() -> Iterator[None]:
    """`datasets` and `huggingface_hub` read HF_HUB_OFFLINE once, at import; an offline switch set
    later would be ignored and every call would wait on network retries. Apply it for this call."""
    if not _offline_requested():
        yield
        return
    saved = datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = huggingface_hub.constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, huggingface_hub.constants.HF_HUB_OFFLINE = saved


def _listed(message: str) -> str | None:
    """The list of valid names that `datasets` puts in some error messages, e.g. "Available: ['a', 'b']"."""
    m = re.search(r"\[([^\[\]]*)\]", message)
    return ", ".join(re.findall(r"'([^']*)'", m.group(1))) if m else None


def _explain(e: Exception, repo_id: str, config: str | None, split: str) -> DataError:
    what = f"{repo_id}" + (f" (config {config!r}, split {split!r})" if config else f" (split {split!r})")
    msg = str(e)
    offline_types = (ConnectionError, TimeoutError, huggingface_hub.errors.OfflineModeIsEnabled)
    offline_types += (huggingface_hub.errors.LocalEntryNotFoundError,)
    if (
        isinstance(e, offline_types)
        or "offline" in msg.lower()
        or "not cached" in msg.lower()
        or "couldn't reach" in msg.lower()
    ):
        return DataError(
            f"The Hugging Face hub cannot be reached from this machine, and {what} is not in the local "
            "cache. " + _OFFLINE_HELP.format(repo=repo_id)
        )
    if isinstance(e, datasets.exceptions.DatasetNotFoundError):
        return DataError(
            f"{repo_id} was not found on the hub, or it is gated (needs you to accept its terms and log "
            "in): check the repo id, or download the data elsewhere and upload the file here."
        )
    valid = _listed(msg)
    low = msg.lower()
    if "split" in low and ("unknown" in low or "should be one of" in low or "not found" in low):
        return DataError(f"{what}: no such split." + (f" Valid splits: {valid}." if valid else ""))
    if "config" in low:
        return DataError(f"{what}: no such config." + (f" Valid configs: {valid}." if valid else ""))
    return DataError(f"Could not load {what}: {type(e).__name__}: {msg.splitlines()[0] if msg else ''}")


def load_hub_examples(
    repo_id: str,
    config: str | None,
    split: str,
    limit: int | None = 500,
    mapping: ColumnMapping | None = None,
) -> tuple[str, list[Example]]:
    """Load `split` of `repo_id`/`config` (first `limit` rows): (schema name, examples)."""
    repo_id, config, split = repo_id.strip(), (config or "").strip() or None, (split or "").strip()
    if not repo_id or not split:
        raise DataError("Give a dataset repo id (e.g. locuslab/TOFU) and a split (e.g. train).")
    try:
        with _honour_offline_env():
            ds = datasets.load_dataset(repo_id, config, split=split)
    except Exception as e:  # any library error becomes a message the user can act on
        raise _explain(e, repo_id, config, split) from None
    if isinstance(ds, datasets.DatasetDict):  # should not happen with split=..., but be safe
        if split not in ds:
            raise DataError(f"{repo_id}: no split {split!r}. Valid splits: {', '.join(ds)}.")
        ds = ds[split]
    if limit is not None:
        ds = ds.select(range(min(limit, len(ds))))
    records = ds.to_list()
    source = f"{repo_id}" + (f"/{config}" if config else "") + f" [{split}]"
    if not records:
        raise DataError(f"{source}: the split is empty.")
    return records_to_examples(records, mapping, source)
