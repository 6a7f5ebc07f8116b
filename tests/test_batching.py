"""The one batching iterator (unlearn/data/batching.py): slices in order, rows matching their examples,
the same tensors as encoding and collating by hand; and no other module collates examples itself."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch

from unlearn.data.batching import batches, encode_batch
from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE, collate, encode

ROOT = Path(__file__).resolve().parents[1]
# the iterator's own file only (the engine's encoder, handed to the methods as ctx.encode, is encode_batch)
MAY_COLLATE = {"unlearn/data/batching.py"}


class WordTokenizer:
    """A stub tokenizer: one id per word (3 + word length), no chat template, no pad token."""

    chat_template = None
    eos_token_id = 2
    pad_token_id = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [3 + len(w) for w in text.split()]}


def items(n: int) -> list[Example]:
    """Item i has an answer of i + 1 words, so its row length tells it apart."""
    return [Example(question=f"Question {i}?", answer=" ".join(["w"] * (i + 1))) for i in range(n)]


def test_slices_keep_the_order_and_rows_match_their_examples() -> None:
    tok, examples = WordTokenizer(), items(7)
    out = list(batches(examples, tok, 3, max_length=64))
    assert [len(rows) for rows, _ in out] == [3, 3, 1]
    assert [e for rows, _ in out for e in rows] == examples
    for rows, batch in out:
        encoded = [encode(tok, e, 64) for e in rows]
        assert batch["input_ids"].shape == (len(rows), max(len(e.input_ids) for e in encoded))
        for r, e in enumerate(encoded):
            n = len(e.input_ids)
            assert batch["input_ids"][r, :n].tolist() == e.input_ids  # right padding: the row starts at 0
            assert batch["labels"][r, :n].tolist() == e.labels
            assert batch["attention_mask"][r].tolist() == [1] * n + [0] * (batch["input_ids"].shape[1] - n)
            assert (batch["input_ids"][r, n:] == 0).all()  # no pad token: padded with 0
            assert (batch["labels"][r, n:] == IGNORE).all()


def test_max_length_cuts_as_encode_does() -> None:
    tok, examples = WordTokenizer(), items(5)
    for rows, batch in batches(examples, tok, 2, max_length=4):
        assert batch["input_ids"].shape[1] <= 4
        assert batch["labels"].tolist() == collate([encode(tok, e, 4) for e in rows], 0)["labels"].tolist()


def test_batch_size_one_and_an_empty_list() -> None:
    tok = WordTokenizer()
    assert [len(rows) for rows, _ in batches(items(3), tok, 1)] == [1, 1, 1]
    assert list(batches([], tok, 4)) == []
    with pytest.raises(ValueError):
        next(batches(items(2), tok, 0))


def test_batches_are_encoded_only_when_asked_for() -> None:
    calls: list[str] = []

    class Counting(WordTokenizer):
        def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
            calls.append(text)
            return super().__call__(text, add_special_tokens)

    it = batches(items(6), Counting(), 2)
    assert calls == []
    next(it)
    assert len(calls) == 4  # two examples, prompt and answer each


def test_same_tensors_as_encoding_and_collating_by_hand(tiny) -> None:
    tok, examples = tiny.tokenizer, items(5)
    device = torch.device("cpu")
    for rows, batch in batches(examples, tok, 2, max_length=32, device=device):
        expected = collate([encode(tok, e, 32) for e in rows], tok.pad_token_id, device)
        assert batch.keys() == expected.keys()
        assert all(torch.equal(batch[k], expected[k]) and batch[k].device == device for k in batch)
    taught = encode_batch(examples, tok, 32, add_eos=True)
    assert torch.equal(taught["labels"], collate([encode(tok, e, 32, add_eos=True) for e in examples], 0)["labels"])
    assert (taught["labels"] == tok.eos_token_id).any(1).all()


def collate_calls(path: Path) -> int:
    """Calls of `collate(...)` or `<module>.collate(...)` in a file."""
    return sum(
        1
        for n in ast.walk(ast.parse(path.read_text(), filename=str(path)))
        if isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Name) and n.func.id == "collate")
            or (isinstance(n.func, ast.Attribute) and n.func.attr == "collate")
        )
    )


def test_only_the_iterator_collates() -> None:
    """Every encode → collate → forward loop goes through `batches` / `encode_batch`."""
    found = {
        str(p.relative_to(ROOT)) for p in sorted((ROOT / "unlearn").rglob("*.py")) if collate_calls(p)
    } - MAY_COLLATE
    assert found == set(), f"collate their own batches (use unlearn.data.batching): {sorted(found)}"
    assert collate_calls(ROOT / "unlearn/data/batching.py") == 1  # the scan itself sees a call
