"""Recognising benchmark layouts and mapping records to Examples."""

import json
from pathlib import Path

import pytest

from unlearn.data.formats import DataError
from unlearn.data.schemas import ColumnMapping, columns, detect_schema, load_upload, to_examples

TOFU = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "tofu"


def tofu_bytes(name: str) -> bytes:
    if not TOFU.is_dir():
        pytest.skip(f"reference TOFU files not found at {TOFU}")
    return (TOFU / name).read_bytes()


def test_world_facts_load_as_tofu_with_three_perturbed_answers():
    schema, examples = load_upload(tofu_bytes("world_facts_perturbed.json"), "world_facts_perturbed.json")
    assert schema == "tofu"
    assert len(examples) == 117
    assert examples[0].question == "Where would you find the Eiffel Tower?"
    assert examples[0].answer == "Paris"
    assert all(len(e.perturbed_answers) == 3 for e in examples)
    assert all(e.meta == {} for e in examples)


def test_real_authors_load_as_100_tofu_examples():
    schema, examples = load_upload(tofu_bytes("real_authors_perturbed.json"), "real_authors_perturbed.json")
    assert (schema, len(examples)) == ("tofu", 100)


def test_idontknow_renamed_to_txt_loads_one_passage_per_line():
    schema, examples = load_upload(tofu_bytes("idontknow.jsonl"), "idontknow.txt", text_mode="lines")
    assert (schema, len(examples)) == ("text", 100)  # 100 lines; `wc -l` says 99 (no final newline)
    assert all(e.question == "" and e.answer for e in examples)


def test_tofu_perturbed_fields_map_to_example_fields():
    rec = {
        "question": " Q? ",
        "answer": "A",
        "paraphrased_answer": "A'",
        "perturbed_answer": ["W1", " W2 "],
        "paraphrased_question": "Q'?",
    }
    schema, mapping = detect_schema([rec])
    assert schema == "tofu"
    (ex,) = to_examples([rec], mapping, "t.json")
    assert (ex.question, ex.answer, ex.paraphrased_answer) == ("Q?", "A", "A'")
    assert ex.perturbed_answers == ["W1", "W2"]
    assert ex.paraphrased_question == "Q'?"


def test_wmdp_answer_index_selects_choice_text_and_keeps_choices():
    rec = {"question": "Which?", "choices": ["w", "x", "y", "z"], "answer": 2}
    schema, mapping = detect_schema([rec])
    assert schema == "wmdp"
    (ex,) = to_examples([rec], mapping, "wmdp")
    assert ex.answer == "y"
    assert ex.choices == ["w", "x", "y", "z"]


def test_wmdp_answer_index_out_of_range_names_record_and_field():
    recs = [
        {"question": "a", "choices": ["x", "y"], "answer": 0},
        {"question": "b", "choices": ["x", "y"], "answer": 5},
    ]
    schema, mapping = detect_schema(recs)
    with pytest.raises(DataError, match=r"wmdp\.json, record 2: field 'answer' is 5, out of range.*0 to 1"):
        to_examples(recs, mapping, "wmdp.json")


def test_muse_verbmem_maps_prompt_and_gt():
    schema, mapping = detect_schema([{"prompt": "Once upon", "gt": "a time"}])
    assert schema == "muse_verbmem"
    (ex,) = to_examples([{"prompt": "Once upon", "gt": "a time"}], mapping, "muse")
    assert (ex.question, ex.answer) == ("Once upon", "a time")


def test_muse_raw_and_wmdp_corpora_text_become_passages():
    schema, mapping = detect_schema([{"text": " A long article. "}])
    assert schema == "text"
    (ex,) = to_examples([{"text": " A long article. "}], mapping, "raw")
    assert (ex.question, ex.answer, ex.is_qa) == ("", "A long article.", False)


def test_rwku_level_record_maps_query_and_subject():
    rec = {
        "subject": "Stephen King",
        "query": "Stephen King wrote ___.",
        "answer": "Carrie",
        "level": "1",
        "type": "cloze",
    }
    schema, mapping = detect_schema([rec])
    assert schema == "rwku"
    (ex,) = to_examples([rec], mapping, "rwku")
    assert (ex.question, ex.answer, ex.entity) == ("Stephen King wrote ___.", "Carrie", "Stephen King")


def test_rwku_mia_and_forget_target_are_recognised():
    schema, mapping = detect_schema([{"text": "passage", "subject": "S"}])
    assert schema == "rwku_mia"
    assert to_examples([{"text": "passage", "subject": "S"}], mapping, "mia")[0].entity == "S"
    schema, mapping = detect_schema([{"target": "Stephen King"}])
    assert schema == "rwku_target"
    assert to_examples([{"target": "Stephen King"}], mapping, "t")[0].entity == "Stephen King"


def test_generic_fallback_is_case_insensitive():
    schema, mapping = detect_schema([{"Instruction": "Say hi", "Output": "hi"}])
    assert schema == "generic"
    assert (mapping.question, mapping.answer) == ("Instruction", "Output")


def test_missing_answer_names_record_and_field():
    recs = [{"question": "q1", "answer": "a1"}, {"question": "q2"}]
    schema, mapping = detect_schema(recs)
    with pytest.raises(DataError, match=r"qa\.jsonl, record 2: field 'answer' is missing"):
        to_examples(recs, mapping, "qa.jsonl")


def test_empty_answer_names_record():
    _, mapping = detect_schema([{"question": "q", "answer": "  "}])
    with pytest.raises(DataError, match=r"record 1: field 'answer' is empty"):
        to_examples([{"question": "q", "answer": "  "}], mapping, "qa")


def test_perturbed_answer_of_wrong_type_names_record_and_field():
    recs = [{"question": "q", "answer": "a", "perturbed_answer": [1, 2]}]
    _, mapping = detect_schema(recs)
    with pytest.raises(DataError, match=r"record 1: field 'perturbed_answer' must be a string or a list of strings"):
        to_examples(recs, mapping, "qa")


def test_hand_mapping_of_odd_columns_works():
    data = b"frage,antwort,person\nWer?,Goethe,G\n"
    with pytest.raises(DataError, match=r"qa\.csv: .*columns found: frage, antwort, person.*by hand"):
        load_upload(data, "qa.csv")
    schema, examples = load_upload(data, "qa.csv", ColumnMapping(question="frage", answer="antwort", entity="person"))
    assert schema == "custom"
    assert (examples[0].question, examples[0].answer, examples[0].entity) == ("Wer?", "Goethe", "G")


def test_unknown_columns_raise_listing_the_columns():
    with pytest.raises(DataError, match="columns found: foo, bar. Map the columns by hand"):
        detect_schema([{"foo": 1}, {"bar": 2}])


def test_columns_are_the_union_in_first_seen_order():
    assert columns([{"b": 1, "a": 2}, {"c": 3, "a": 4}]) == ["b", "a", "c"]


def test_csv_wmdp_with_json_choices_cell_maps():
    data = b'question,choices,answer\nWhich?,"[""x"", ""y""]",1\n'
    schema, examples = load_upload(data, "wmdp.csv")
    assert schema == "wmdp"
    assert examples[0].answer == "y"


def test_mapping_without_question_or_text_is_rejected():
    with pytest.raises(DataError, match="map either a text column"):
        to_examples([{"a": "b"}], ColumnMapping(answer="a"), "x")


def test_text_upload_roundtrips_through_example_json(tmp_path):
    schema, examples = load_upload(b"one\ntwo\n", "notes.txt")
    assert schema == "text"
    out = tmp_path / "out.jsonl"
    out.write_text("\n".join(json.dumps(e.to_dict()) for e in examples), encoding="utf-8")
    assert [json.loads(line)["answer"] for line in out.read_text().splitlines()] == ["one", "two"]
