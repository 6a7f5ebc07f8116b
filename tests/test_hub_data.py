"""Hub datasets: conversion of loaded rows, and clear errors when the hub is out of reach."""

import json
import time

import datasets
import pytest

from unlearn.data.formats import DataError
from unlearn.data.hub_data import PRESETS, load_hub_examples
from unlearn.data.schemas import ColumnMapping


def fake_hub(monkeypatch, rows, calls=None):
    def load_dataset(repo_id, config=None, split=None, **kwargs):
        if calls is not None:
            calls.append((repo_id, config, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)


def test_tofu_rows_from_the_hub_become_examples(monkeypatch):
    calls = []
    rows = [{"question": f"q{i}", "answer": f"a{i}", "perturbed_answer": ["w1", "w2"]} for i in range(3)]
    fake_hub(monkeypatch, rows, calls)
    schema, examples = load_hub_examples("locuslab/TOFU", "forget01_perturbed", "train")
    assert calls == [("locuslab/TOFU", "forget01_perturbed", "train")]
    assert schema == "tofu"
    assert [e.answer for e in examples] == ["a0", "a1", "a2"]
    assert examples[0].perturbed_answers == ["w1", "w2"]


def test_limit_keeps_the_first_rows(monkeypatch):
    fake_hub(monkeypatch, [{"text": f"t{i}"} for i in range(10)])
    schema, examples = load_hub_examples("muse-bench/MUSE-News", "raw", "forget", limit=4)
    assert schema == "text"
    assert [e.answer for e in examples] == ["t0", "t1", "t2", "t3"]
    assert len(load_hub_examples("muse-bench/MUSE-News", "raw", "forget", limit=None)[1]) == 10


def test_wmdp_rows_from_the_hub_map_answer_index(monkeypatch):
    fake_hub(monkeypatch, [{"question": "Which?", "choices": ["a", "b", "c", "d"], "answer": 3}])
    schema, (ex,) = load_hub_examples("cais/wmdp", "wmdp-bio", "test")
    assert (schema, ex.answer, ex.choices) == ("wmdp", "d", ["a", "b", "c", "d"])


def test_hub_rows_with_hand_mapping(monkeypatch):
    fake_hub(monkeypatch, [{"src": "hello", "tgt": "bonjour"}])
    schema, (ex,) = load_hub_examples("x/y", None, "train", mapping=ColumnMapping(question="src", answer="tgt"))
    assert (schema, ex.question, ex.answer) == ("custom", "hello", "bonjour")


def test_bad_hub_record_error_names_the_dataset(monkeypatch):
    fake_hub(monkeypatch, [{"question": "q", "choices": ["a"], "answer": 4}])
    with pytest.raises(DataError, match=r"cais/wmdp/wmdp-bio \[test\], record 1: field 'answer'"):
        load_hub_examples("cais/wmdp", "wmdp-bio", "test")


def test_unknown_split_error_lists_valid_splits(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ValueError("Unknown split \"tain\". Should be one of ['train'].")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match="no such split. Valid splits: train"):
        load_hub_examples("locuslab/TOFU", "forget01", "tain")


def test_unknown_config_error_lists_valid_configs(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ValueError("BuilderConfig 'forget02' not found. Available: ['forget01', 'forget05']")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match="no such config. Valid configs: forget01, forget05"):
        load_hub_examples("locuslab/TOFU", "forget02", "train")


def test_connection_error_says_hub_unreachable_and_to_upload(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'locuslab/TOFU' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match="hub cannot be reached from this machine.*upload the file here"):
        load_hub_examples("locuslab/TOFU", "forget01", "train")


def test_unexpected_library_error_becomes_data_error(monkeypatch):
    def load_dataset(*args, **kwargs):
        raise RuntimeError("something odd\nwith a second line")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError, match="Could not load x/y .*RuntimeError: something odd$"):
        load_hub_examples("x/y", None, "train")


def test_offline_env_gives_quick_data_error_for_uncached_repo(monkeypatch, tmp_path):
    # Real load_dataset, no network needed: the offline switch must be honoured even though
    # `datasets` read the environment at import time, so this fails at once instead of retrying.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(tmp_path / "cache"))
    flag_before = datasets.config.HF_HUB_OFFLINE
    start = time.monotonic()
    with pytest.raises(DataError, match="hub cannot be reached from this machine.*upload the file here"):
        load_hub_examples("nobody-here/definitely-not-cached-xyz", None, "train")
    assert time.monotonic() - start < 5
    assert datasets.config.HF_HUB_OFFLINE == flag_before  # the library setting is put back


def test_presets_cover_the_benchmarks():
    assert set(PRESETS) == {"tofu", "muse_news", "muse_books", "wmdp", "rwku"}
    tofu = PRESETS["tofu"]
    assert tofu.repo_id == "locuslab/TOFU" and tofu.default_split == "train"
    assert {"forget01", "retain99", "holdout10", "world_facts_perturbed"} <= set(tofu.configs)
    assert PRESETS["rwku"].splits_for("forget_target") == ["train"]
    assert PRESETS["rwku"].splits_for("forget_level1") == ["test"]
    for p in PRESETS.values():
        assert p.default_config in p.configs
        assert p.default_split in p.splits_for(p.default_config)


def test_command_line_sets_take_hub_datasets(tmp_path, monkeypatch) -> None:
    """`--forget/--retain/--holdout hub:ORG/NAME[:CONFIG][:SPLIT]` (issue 16): parsed with the benchmark's
    usual split as default, read through the same loader and messages as the app."""
    from unlearn.data.set_refs import load_set, parse_hub

    assert parse_hub("hub:locuslab/TOFU:forget10_perturbed") == ("locuslab/TOFU", "forget10_perturbed", "train")
    assert parse_hub("hub:cais/wmdp:wmdp-bio") == ("cais/wmdp", "wmdp-bio", "test")
    assert parse_hub("hub:org/name::validation") == ("org/name", None, "validation")
    with pytest.raises(DataError, match="hub:ORG/NAME"):
        parse_hub("hub:")
    calls = []
    fake_hub(monkeypatch, [{"question": f"q{i}", "answer": f"a{i}"} for i in range(700)], calls)
    items = load_set("hub:locuslab/TOFU:forget10")
    assert calls == [("locuslab/TOFU", "forget10", "train")] and len(items) == 700  # every row, not the app's 500


def test_a_local_dataset_folder_loads_as_a_hub_set(tmp_path, monkeypatch) -> None:
    from unlearn.__main__ import main
    from unlearn.data.set_refs import load_set

    folder = tmp_path / "my_forget"
    folder.mkdir()
    rows = [{"question": f"Who is person {i}?", "answer": f"Person {i} is a painter."} for i in range(5)]
    (folder / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert [e.answer for e in load_set(f"hub:{folder}")] == [r["answer"] for r in rows]
    assert main(["run", "--forget", "hub:nobody/no-such-set", "--steps", "1"]) == 2  # a message, not a traceback
