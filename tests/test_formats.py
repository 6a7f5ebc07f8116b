"""Reading uploaded files into records: real TOFU files, every accepted format, and broken inputs."""

import json
from pathlib import Path

import pytest

from unlearn.data.formats import DataError, read_records

TOFU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tofu"
SHIPPED = Path(__file__).resolve().parents[1] / "assets" / "tofu"  # the two evaluation files the app ships


def tofu_bytes(name: str) -> bytes:
    """A real TOFU file: from ../shared where it is, else the copy in assets/tofu (two of the three)."""
    for folder in (TOFU, SHIPPED):
        if (folder / name).is_file():
            return (folder / name).read_bytes()
    pytest.skip(f"reference TOFU file {name} not found in {TOFU} or {SHIPPED}")


def test_tofu_json_lines_with_json_extension_is_detected():
    records = read_records(tofu_bytes("world_facts_perturbed.json"), "world_facts_perturbed.json")
    assert len(records) == 117
    assert set(records[0]) == {"question", "answer", "perturbed_answer"}


def test_tofu_real_authors_has_100_records():
    assert len(read_records(tofu_bytes("real_authors_perturbed.json"), "real_authors_perturbed.json")) == 100


def test_idontknow_plain_text_reads_one_record_per_line():
    data = tofu_bytes("idontknow.jsonl")
    as_txt = read_records(data, "idontknow.txt")
    # 100 sentences: the README's "99" is `wc -l`, which misses the last line (no final newline).
    assert len(as_txt) == 100 == len(data.decode().splitlines())
    assert as_txt[0] == {"text": "I'm not certain about that."}
    assert read_records(data, "idontknow.txt", text_mode="lines") == as_txt


def test_idontknow_read_as_jsonl_fails_naming_line_1():
    with pytest.raises(DataError, match=r"idontknow\.jsonl, line 1: not valid JSON.*rename the file to \.txt"):
        read_records(tofu_bytes("idontknow.jsonl"), "idontknow.jsonl")


def test_json_array_of_objects():
    data = json.dumps([{"question": "q", "answer": "a"}]).encode()
    assert read_records(data, "x.json") == [{"question": "q", "answer": "a"}]


def test_json_object_wrapping_one_list_of_records():
    data = json.dumps({"version": 2, "data": [{"text": "a"}, {"text": "b"}]}).encode()
    assert read_records(data, "x.json") == [{"text": "a"}, {"text": "b"}]


def test_json_with_several_record_lists_asks_for_one():
    data = json.dumps({"train": [{"text": "a"}], "test": [{"text": "b"}]}).encode()
    with pytest.raises(DataError, match="several lists of records.*train, test"):
        read_records(data, "x.json")


def test_utf8_bom_is_accepted():
    data = b"\xef\xbb\xbf" + json.dumps([{"text": "caf\u00e9"}], ensure_ascii=False).encode()
    assert read_records(data, "x.json") == [{"text": "caf\u00e9"}]


def test_jsonl_ignores_blank_lines():
    data = b'{"text": "a"}\n\n  \n{"text": "b"}\r\n'
    assert read_records(data, "x.jsonl") == [{"text": "a"}, {"text": "b"}]
    assert read_records(data, "x.ndjson") == [{"text": "a"}, {"text": "b"}]


def test_jsonl_bad_line_3_is_named():
    data = b'{"text": "a"}\n{"text": "b"}\n{"text": "c",}\n'
    with pytest.raises(DataError, match=r"x\.jsonl, line 3: not valid JSON \(.*column"):
        read_records(data, "x.jsonl")


def test_jsonl_line_that_is_not_an_object_is_named():
    with pytest.raises(DataError, match=r"line 2: holds a list, not a JSON object"):
        read_records(b'{"text": "a"}\n[1, 2]\n', "x.jsonl")


def test_broken_json_array_names_its_line():
    data = b'[\n  {"text": "a"},\n  {"text": }\n]\n'
    with pytest.raises(DataError, match=r"x\.json, line 3: not valid JSON"):
        read_records(data, "x.json")


def test_json_list_of_numbers_names_first_bad_index():
    with pytest.raises(DataError, match="item at index 0 is a number, not an object"):
        read_records(b"[1, 2, 3]", "nums.json")
    with pytest.raises(DataError, match="item at index 1 is a string"):
        read_records(b'[{"text": "a"}, "b"]', "mixed.json")


def test_csv_and_tsv_with_header():
    csv_data = b'question,answer\n"Who wrote ""Hamlet"", then?",Shakespeare\n\n'
    assert read_records(csv_data, "qa.csv") == [{"question": 'Who wrote "Hamlet", then?', "answer": "Shakespeare"}]
    assert read_records(b"question\tanswer\nq\ta\n", "qa.tsv") == [{"question": "q", "answer": "a"}]


def test_csv_ragged_row_names_its_line():
    data = b"question,answer\nq1,a1\nq2,a2,extra\n"
    with pytest.raises(DataError, match=r"qa\.csv, line 3: 3 fields, but the header has 2"):
        read_records(data, "qa.csv")


def test_csv_header_only_has_no_records():
    with pytest.raises(DataError, match="no records"):
        read_records(b"question,answer\n", "qa.csv")


def test_text_passages_split_on_blank_lines():
    data = b"Para one line one.\nPara one line two.\n\nPara two line one.\nPara two line two.\n"
    assert read_records(data, "p.txt") == [
        {"text": "Para one line one.\nPara one line two."},
        {"text": "Para two line one.\nPara two line two."},
    ]
    assert len(read_records(data, "p.txt", text_mode="lines")) == 4
    assert len(read_records(b"one\ntwo\n", "p.txt", text_mode="passages")) == 1


def test_text_auto_reads_double_spaced_sentences_as_lines():
    assert read_records(b"one\n\ntwo\n\nthree\n", "p.txt") == [
        {"text": "one"},
        {"text": "two"},
        {"text": "three"},
    ]


def test_unknown_extension_is_sniffed():
    assert read_records(b'{"text": "a"}\n{"text": "b"}\n', "data.dat") == [{"text": "a"}, {"text": "b"}]
    assert read_records(b"question,answer\nq,a\n", "data") == [{"question": "q", "answer": "a"}]
    prose = b"Hello, world. This is prose.\nAnother line, with commas, and more.\nLast one\n"
    assert len(read_records(prose, "notes.md")) == 3


def test_empty_file_is_rejected():
    with pytest.raises(DataError, match=r"empty\.json: the file is empty"):
        read_records(b"", "empty.json")
    with pytest.raises(DataError, match="the file is empty"):
        read_records(b"  \n\n", "blank.txt")


def test_binary_file_is_rejected():
    with pytest.raises(DataError, match=r"model\.bin: this looks like a binary file"):
        read_records(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "model.bin")


def test_latin1_file_is_rejected_with_resave_advice():
    data = "question,answer\nq,a\nCaf\u00e9?,yes\n".encode("latin-1")
    with pytest.raises(DataError, match=r"qa\.csv, line 3: the file is not UTF-8 text: re-save it as UTF-8"):
        read_records(data, "qa.csv")


def test_oversized_file_and_too_many_records_are_rejected():
    with pytest.raises(DataError, match="23 bytes, over the limit of 10"):
        read_records(b'{"text": "a long line"}', "x.jsonl", max_bytes=10)
    with pytest.raises(DataError, match="3 records, over the limit of 2"):
        read_records(b"a\nb\nc\n", "x.txt", max_records=2)


def test_reads_from_a_real_file_on_disk(tmp_path):
    path = tmp_path / "forget.jsonl"
    path.write_text('{"question": "q", "answer": "a"}\n', encoding="utf-8")
    assert read_records(path.read_bytes(), str(path)) == [{"question": "q", "answer": "a"}]
