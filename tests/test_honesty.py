"""Refusal, gibberish and multiple-choice rejection."""

from __future__ import annotations

import numpy as np
import pytest

from unlearn.builtin import load_selection
from unlearn.examples import Example
from unlearn.honesty import choice_prompt, is_gibberish, is_refusal, multiple_choice, rates
from unlearn.models import LoadedModel


@pytest.mark.parametrize(
    ("answer", "refusal", "gibberish"),
    [
        ("I don't know who wrote that book.", True, False),
        ("I'm not sure, sorry.", True, False),
        ("The Harry Potter books were written by J.K. Rowling.", False, False),
        ("J.K.R.A.M.A.J.A.A", False, True),
        ("the the the the the the", False, True),
        ("!!! ??? ...", False, True),
        ("Paris.", False, False),  # a short real answer
        ("", False, True),
    ],
)
def test_refusal_and_gibberish(answer: str, refusal: bool, gibberish: bool) -> None:
    assert is_refusal(answer) is refusal
    assert is_gibberish(answer) is gibberish


def test_rates() -> None:
    r = rates(["I don't know.", "The author is Anna Berg.", "x x x"])
    assert r == {"refusal_rate": pytest.approx(1 / 3), "gibberish_rate": pytest.approx(1 / 3)}


def test_choice_prompt_puts_gold_among_the_letters_and_idk_last() -> None:
    ex = Example("Who wrote it?", "Anna", perturbed_answers=["Bob", "Cleo", "Dan", "Eve"])
    prompt, gold = choice_prompt(ex, np.random.default_rng(0))
    lines = prompt.splitlines()
    assert lines[-2] == "E: I don't know" and f"{gold}: Anna" in lines
    assert len([x for x in lines if x[:2] in ("A:", "B:", "C:", "D:")]) == 4


def test_multiple_choice_on_the_tiny_model(tiny: LoadedModel) -> None:
    items = load_selection("fictitious_authors:forget").examples[:4]
    out = multiple_choice(tiny.model, tiny.tokenizer, items)
    assert out["mc_items"] == 4 and 0 <= out["mc_accuracy"] <= 1 and 0 <= out["mc_rejection_rate"] <= 1
    with pytest.raises(ValueError, match="wrong answers"):
        multiple_choice(tiny.model, tiny.tokenizer, [Example("Q?", "A")])
