"""The answer-window forward gives exactly what the full-width forward gives where losses look."""

from __future__ import annotations

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, collate, encode
from unlearn.model.forward import answer_logits, answer_rows, answer_window
from unlearn.model.models import LoadedModel
from unlearn.train.losses import sequence_nll


def test_window_spans_from_before_the_first_answer_token_to_the_last() -> None:
    labels = torch.full((2, 10), IGNORE)
    labels[0, 4:6] = 5  # answer tokens at columns 4, 5
    labels[1, 6:9] = 7  # and 6, 7, 8
    assert answer_window(labels) == slice(3, 9)
    assert answer_window(torch.full((1, 4), IGNORE)) == slice(0, 4)  # no answer: everything


def test_answer_logits_match_the_full_forward(tiny: LoadedModel) -> None:
    items = [Example("Who wrote the book?", "A"), Example("Where is the tower of the city of?", "In the old town.")]
    batch = collate([encode(tiny.tokenizer, e) for e in items], tiny.tokenizer.pad_token_id, tiny.device)
    with torch.no_grad():
        full = tiny.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logits, labels = answer_logits(tiny.model, batch)
    window = answer_window(batch["labels"])
    assert window.stop - window.start < batch["labels"].shape[1]  # the prompt is really left out
    # each row's own span only: narrower than the window the two rows share (the second's answer is longer)
    spans = [int((row != IGNORE).sum()) + 1 for row in batch["labels"]]
    assert logits.shape == (2, max(spans), full.shape[-1]) and max(spans) < window.stop - window.start
    for r, row in enumerate(batch["labels"]):
        cols = (row != IGNORE).nonzero().flatten()
        own = torch.arange(int(cols[0]) - 1, int(cols[-1]) + 1)  # from the position before the answer
        torch.testing.assert_close(logits[r, : len(own)], full[r, own])
        assert labels[r, : len(own)].tolist() == row[own].tolist()
        assert (labels[r, len(own) :] == IGNORE).all()
    torch.testing.assert_close(sequence_nll(logits, labels)[0], sequence_nll(full, batch["labels"])[0])


def test_answer_rows_take_each_rows_span() -> None:
    labels = torch.full((3, 6), IGNORE)
    labels[0, 1:3] = 4  # a short answer early
    labels[1, 3:6] = 5  # a longer one late
    # row 2 has no answer at all: nothing of it is read
    take, kept = answer_rows(labels)
    assert take.tolist() == [[0, 1, 2, 2], [2, 3, 4, 5], [0, 0, 0, 0]]
    assert kept.tolist() == [[IGNORE, 4, 4, IGNORE], [IGNORE, 5, 5, 5], [IGNORE] * 4]


def test_a_head_without_its_hook_still_gets_each_rows_span(tiny: LoadedModel, monkeypatch) -> None:
    """A model whose head is not a separate module computes the window; its logits are gathered after."""
    items = [Example("Who wrote the book?", "A"), Example("Where is the tower?", "In the old town.")]
    batch = collate([encode(tiny.tokenizer, e) for e in items], tiny.tokenizer.pad_token_id, tiny.device)
    with torch.no_grad():
        hooked = answer_logits(tiny.model, batch)
        monkeypatch.setattr(type(tiny.model), "get_output_embeddings", lambda self: None)
        plain = answer_logits(tiny.model, batch)
    torch.testing.assert_close(hooked[0], plain[0])
    assert torch.equal(hooked[1], plain[1])
