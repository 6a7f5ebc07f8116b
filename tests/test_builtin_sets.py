"""The built-in sets: shapes the issue asks for, and the recorded checks are real."""

from __future__ import annotations

import pytest

from unlearn.data.builtin import load_builtin, load_selection, refusals, selections
from unlearn.data.knowledge import check_examples


def test_harry_potter_has_enough_items_and_a_recorded_check_for_each() -> None:
    hp = load_builtin("harry_potter")
    assert len(hp) >= 30 and hp.knowledge == "own"
    assert all({"known", "answer_prob", "generation"} <= set(e.meta) for e in hp.examples)
    known = {e.keywords[0] for e in hp.examples if e.meta["known"]}
    # the bundled model knows some of the set, not all of it
    assert 0 < len(known) < len(hp)


def test_general_knowledge_is_known_and_split_into_train_and_eval() -> None:
    gk = load_builtin("general_knowledge")
    assert len(gk) >= 30 and all(e.meta["known"] for e in gk.examples)
    train, ev = load_selection("general_knowledge:train"), load_selection("general_knowledge:eval")
    assert len(train) + len(ev) == len(gk) and len(ev) >= 15
    assert not {e.question for e in train.examples} & {e.question for e in ev.examples}


def test_fictitious_authors_have_tofu_shape_and_author_disjoint_splits() -> None:
    fa = load_builtin("fictitious_authors")
    assert fa.knowledge == "taught"
    authors = {
        s: {e.entity for e in load_selection(f"fictitious_authors:{s}").examples}
        for s in ("forget", "retain", "holdout")
    }
    assert sum(len(a) for a in authors.values()) >= 12
    assert not (
        authors["forget"] & authors["retain"]
        or authors["forget"] & authors["holdout"]
        or authors["retain"] & authors["holdout"]
    )
    for e in fa.examples:
        assert e.paraphrased_answer and len(e.perturbed_answers) == 3
    per_author: dict[str, int] = {}
    for e in fa.examples:
        per_author[e.entity] = per_author.get(e.entity, 0) + 1
    assert min(per_author.values()) >= 4
    # the untaught model does not know invented authors
    assert not any(e.meta["known"] for e in fa.examples)


def test_refusal_list_and_selection_names() -> None:
    assert len(refusals()) >= 30 and all(len(r) > 5 for r in refusals())
    names = selections()
    assert {"harry_potter", "harry_potter:known", "general_knowledge:eval", "fictitious_authors:holdout"} <= set(names)
    with pytest.raises(ValueError, match="valid"):
        load_selection("harry_potter:nope")
    with pytest.raises(ValueError, match="valid"):
        load_selection("no_such_set")


@pytest.mark.bundled
def test_recorded_checks_match_the_bundled_model(bundled) -> None:
    """Re-run the check on a sample of items and compare with what assets/ records."""
    hp = load_builtin("harry_potter")
    known = [e for e in hp.examples if e.meta["known"]][:3]
    unknown = [e for e in hp.examples if not e.meta["known"]][:3]
    sample = known + unknown
    checks = check_examples(bundled, sample)
    for e, c in zip(sample, checks, strict=True):
        assert c.correct == e.meta["known"], e.question
        assert c.answer_prob == pytest.approx(e.meta["answer_prob"], abs=2e-3), e.question


@pytest.mark.bundled
def test_bundled_model_answers_a_forget_question_correctly(bundled) -> None:
    from unlearn.model.scoring import generate_answers, mentions

    answer = generate_answers(bundled.model, bundled.tokenizer, ["Who wrote the Harry Potter books?"], 24)[0]
    assert mentions(answer, ["Rowling"]), answer


def test_tofu_evaluation_sets_are_shipped_as_published() -> None:
    """Real Authors and World Facts are TOFU's own files (MIT, licence beside them), read as uploads are."""
    from tests.test_formats import SHIPPED, TOFU

    assert (SHIPPED / "LICENSE").read_text().startswith("MIT License")
    for name, n in (("real_authors_perturbed.json", 100), ("world_facts_perturbed.json", 117)):
        if (TOFU / name).is_file():  # the reference copy, where this checkout has it: byte for byte
            assert (SHIPPED / name).read_bytes() == (TOFU / name).read_bytes()
        key = "tofu_" + name.removesuffix("_perturbed.json")
        ds = load_selection(key)
        assert len(ds) == n and all(len(e.perturbed_answers) == 3 for e in ds.examples)
    assert {"tofu_real_authors", "tofu_world_facts"} <= set(selections())
