from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, collate, encode
from unlearn.model.scoring import answer_nll, generate_answers, mentions, set_prob
from unlearn.train.losses import token_nll

QA = Example(question="Who wrote the Harry Potter books?", answer="J.K. Rowling wrote them.")
PASSAGE = Example(question="", answer="Hogwarts is a school of magic.")


def test_labels_cover_exactly_the_answer_tokens(tiny) -> None:
    enc = encode(tiny.tokenizer, QA)
    answer_ids = tiny.tokenizer(QA.answer, add_special_tokens=False)["input_ids"]
    assert enc.input_ids[-len(answer_ids) :] == answer_ids
    assert [x for x in enc.labels if x != IGNORE] == answer_ids
    assert enc.labels[: len(enc.labels) - len(answer_ids)] == [IGNORE] * (len(enc.labels) - len(answer_ids))


def test_passages_are_scored_on_every_token_but_the_first(tiny) -> None:
    enc = encode(tiny.tokenizer, PASSAGE)
    assert enc.labels[0] == IGNORE and enc.labels[1:] == enc.input_ids[1:]


def test_long_prompts_are_cut_from_the_left_and_flagged(tiny) -> None:
    long = Example(question="word " * 400, answer="J.K. Rowling wrote them.")
    enc = encode(tiny.tokenizer, long, max_length=64)
    assert enc.truncated and len(enc.input_ids) == 64
    assert enc.n_answer_tokens == len(tiny.tokenizer(long.answer, add_special_tokens=False)["input_ids"])


def test_eos_is_appended_when_teaching(tiny) -> None:
    assert encode(tiny.tokenizer, QA, add_eos=True).labels[-1] == tiny.tokenizer.eos_token_id


def test_collate_right_pads_and_masks(tiny) -> None:
    a, b = encode(tiny.tokenizer, QA), encode(tiny.tokenizer, PASSAGE)
    batch = collate([a, b], pad_id=0)
    width = max(len(a.input_ids), len(b.input_ids))
    assert batch["input_ids"].shape == (2, width)
    assert batch["attention_mask"].sum(1).tolist() == [len(a.input_ids), len(b.input_ids)]
    assert (batch["labels"][batch["attention_mask"] == 0] == IGNORE).all()


def test_token_nll_matches_a_hand_computation() -> None:
    logits = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]])  # (1, 3, 3)
    labels = torch.tensor([[IGNORE, 1, 2]])
    nll, _ = token_nll(logits, labels)  # position 0 predicts label 1, position 1 predicts label 2
    expect0 = -math.log(math.exp(0) / (math.exp(2) + 2))
    expect1 = -math.log(1 / (2 + math.e))
    assert torch.allclose(nll, torch.tensor([[expect0, expect1]]), atol=1e-6)


def test_batched_scores_equal_one_at_a_time_scores(tiny) -> None:
    exs = [QA, PASSAGE, Example("What is the capital of France?", "Paris.")]
    together = answer_nll(tiny.model, tiny.tokenizer, exs, batch_size=3)
    alone = np.concatenate([answer_nll(tiny.model, tiny.tokenizer, [e]) for e in exs])
    assert np.allclose(together, alone, atol=1e-5)


def test_set_probability_is_the_geometric_mean() -> None:
    assert set_prob(np.array([0.0, math.log(4)])) == pytest.approx(0.5)


def test_batched_generation_equals_single_generation(tiny) -> None:
    qs = ["Who wrote the Harry Potter books?", "What is the capital of France? Tell me."]
    together = generate_answers(tiny.model, tiny.tokenizer, qs, max_new_tokens=6)
    alone = [generate_answers(tiny.model, tiny.tokenizer, [q], max_new_tokens=6)[0] for q in qs]
    assert together == alone


@pytest.mark.parametrize(
    ("text", "keywords", "hit"),
    [
        ("Harry Potter's owl is named Hedwig.", ["Hedwig"], True),
        ("It departs from platform nine and three-quarters", ["three quarters"], True),
        ("The owl is called Hermes", ["Hedwig"], False),
        ("himself", ["elf"], False),
        ("Gabriel García Márquez", ["Garcia Marquez"], True),
    ],
)
def test_keyword_match_is_whole_word_and_accent_blind(text: str, keywords: list[str], hit: bool) -> None:
    assert mentions(text, keywords) is hit
