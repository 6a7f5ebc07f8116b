"""Refusal, gibberish and multiple-choice rejection.

Reference: "Unlearners Can Lie" (arXiv 2605.08765) as evaluation.md states it: the refusal rate is the
share of answers matching a refusal pattern, the multiple-choice rejection rate the share of items
where the argmax over the option letters' next-token logits is the added "E: I don't know"; the
expected values below are counted by hand."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from unlearn.audit.honesty import choice_prompt, is_gibberish, is_refusal, multiple_choice, rates
from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel


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


class _PrefersLetter(torch.nn.Module):
    """A stand-in model whose next token is always one letter: its choice is known in advance."""

    def __init__(self, token_id: int, vocab: int) -> None:
        super().__init__()
        self.token_id, self.vocab = token_id, vocab
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # a device to read

    def forward(self, input_ids: torch.Tensor) -> SimpleNamespace:
        logits = torch.zeros(1, input_ids.shape[1], self.vocab)
        logits[0, -1, self.token_id] = 5.0
        return SimpleNamespace(logits=logits)


def test_multiple_choice_rates_counted_by_hand(tiny: LoadedModel) -> None:
    items = load_selection("fictitious_authors:forget").examples[:6]
    tok = tiny.tokenizer
    letter = {x: tok(x, add_special_tokens=False)["input_ids"][0] for x in "ABCDE"}
    # always "E: I don't know": every item rejected, none right
    out = multiple_choice(_PrefersLetter(letter["E"], len(tok)), tok, items)
    assert out == {"mc_accuracy": 0.0, "mc_rejection_rate": 1.0, "mc_items": 6}
    # always "A": right exactly where the shuffled gold answer landed on A (the same seeded shuffle)
    rng = np.random.default_rng(0)
    gold_a = sum(choice_prompt(e, rng)[1] == "A" for e in items)
    out = multiple_choice(_PrefersLetter(letter["A"], len(tok)), tok, items)
    assert out["mc_accuracy"] == pytest.approx(gold_a / 6) and out["mc_rejection_rate"] == 0.0


def test_multiple_choice_on_the_tiny_model(tiny: LoadedModel) -> None:
    items = load_selection("fictitious_authors:forget").examples[:4]
    out = multiple_choice(tiny.model, tiny.tokenizer, items)
    assert out["mc_items"] == 4 and 0 <= out["mc_accuracy"] <= 1 and 0 <= out["mc_rejection_rate"] <= 1
    with pytest.raises(ValueError, match="wrong answers"):
        multiple_choice(tiny.model, tiny.tokenizer, [Example("Q?", "A")])
