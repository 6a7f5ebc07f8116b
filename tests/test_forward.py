"""The answer-window forward gives exactly what the full-width forward gives where losses look."""

from __future__ import annotations

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, collate, encode
from unlearn.model.forward import answer_logits, answer_window
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
    assert logits.shape == (2, window.stop - window.start, full.shape[-1])
    torch.testing.assert_close(logits, full[:, window])
    torch.testing.assert_close(sequence_nll(logits, labels)[0], sequence_nll(full, batch["labels"])[0])
