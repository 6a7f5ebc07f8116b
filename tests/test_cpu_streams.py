"""Forwards side by side on a CPU (unlearn/model/cpu_streams.py): the same results in the same order as a
plain loop, torch's thread count divided while they run and put back after, no nesting, errors raised to
the caller; and the one-call hooks they rely on (the head on the answer positions) leave other threads'
forwards alone."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest
import torch

import unlearn.model.cpu_streams as cs
from unlearn.audit import gradnorm
from unlearn.audit.gradnorm import gradient_norms
from unlearn.audit.remind import RemindConfig, answer_losses, landscape
from unlearn.data.batching import encode_batch
from unlearn.data.examples import Example
from unlearn.model import greedy
from unlearn.model.forward import answer_logits, head_rows
from unlearn.model.hooks import forward_hooks
from unlearn.model.scoring import answer_nll_sums, generate_answers

CPU = torch.device("cpu")


@pytest.fixture
def two_threads() -> Iterator[None]:
    """torch on two intra-op threads for the test (the suite's workers run on one each)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def test_stream_map_runs_two_at_a_time_in_order_on_half_the_threads(two_threads) -> None:
    seen: list[tuple[int, int, int]] = []  # (item, thread, torch threads inside)
    both = threading.Barrier(2, timeout=10)  # only two threads running at once can both pass

    def fn(x: int) -> int:
        if x < 2:
            both.wait()
        seen.append((x, threading.get_ident(), torch.get_num_threads()))
        return x * x

    assert cs.streams(CPU) == 2
    assert list(cs.stream_map(fn, range(6), CPU)) == [0, 1, 4, 9, 16, 25]
    assert len({t for _, t, _ in seen}) == 2 and threading.get_ident() not in {t for _, t, _ in seen}
    assert {n for *_, n in seen} == {1}
    assert torch.get_num_threads() == 2  # put back


def test_a_stream_map_inside_a_stream_is_a_plain_loop(two_threads) -> None:
    def inner(x: int) -> tuple[int, int]:
        return x, threading.get_ident()

    def outer(x: int) -> list[tuple[int, int]]:
        assert cs.streams(CPU) == 1
        return [(y, t, threading.get_ident()) for y, t in cs.stream_map(inner, [x, x + 10], CPU)]

    for rows in cs.stream_map(outer, [1, 2], CPU):
        assert all(t == caller for _, t, caller in rows)  # in the outer stream's own thread
    assert torch.get_num_threads() == 2


def test_an_error_in_a_stream_reaches_the_caller_and_the_threads_come_back(two_threads) -> None:
    def fn(x: int) -> int:
        if x == 3:
            raise ValueError("item 3")
        return x

    with pytest.raises(ValueError, match="item 3"):
        list(cs.stream_map(fn, range(5), CPU))
    assert torch.get_num_threads() == 2


def test_a_gpu_one_thread_or_one_item_is_a_plain_loop(two_threads) -> None:
    me = threading.get_ident()
    assert cs.streams(torch.device("meta")) == 1
    assert list(cs.stream_map(lambda x: threading.get_ident(), [1, 2], torch.device("meta"))) == [me, me]
    assert list(cs.stream_map(lambda x: threading.get_ident(), [1], CPU)) == [me]
    torch.set_num_threads(1)
    assert cs.streams(CPU) == 1
    assert list(cs.stream_map(lambda x: threading.get_ident(), [1, 2], CPU)) == [me, me]


def test_batches_split_evenly_among_the_streams(two_threads) -> None:
    assert [cs.batch_size_for(n, b, CPU) for n, b in ((16, 16), (110, 16), (88, 32), (1, 16), (0, 16))] == [
        8,
        14,
        22,
        1,
        16,
    ]
    assert cs.batch_size_for(16, 16, torch.device("meta")) == 16  # one stream: as given


def test_a_this_thread_hook_leaves_other_threads_forwards_alone() -> None:
    lin = torch.nn.Linear(2, 2)
    hits = {"scoped": [], "every": []}
    hooks = [(lin, lambda m, a, o: hits["scoped"].append(threading.get_ident()))]
    with (
        forward_hooks(hooks, this_thread=True),
        forward_hooks([(lin, lambda m, a, o: hits["every"].append(threading.get_ident()))]),
    ):
        lin(torch.zeros(1, 2))
        other = threading.Thread(target=lin, args=(torch.zeros(1, 2),))
        other.start()
        other.join()
    assert hits["scoped"] == [threading.get_ident()]
    assert hits["every"] == [threading.get_ident(), other.ident]


def test_scoring_remind_and_gradnorm_side_by_side_give_the_plain_loop_s_figures(tiny, two_threads, monkeypatch) -> None:
    examples = [Example(f"Question number {i} about {'x' * i}?", f"Answer {i} is {'y' * (i % 5)}.") for i in range(12)]
    stack = torch.tensor([[3] + list(range(10, 10 + 12))] * 9)
    stack[1:, 5] = torch.arange(40, 48)  # neighbours differ in one question token
    labels = torch.full_like(stack, -100)
    labels[:, 9:] = stack[:, 9:]

    def no_fallback(*args, **kwargs):
        raise AssertionError("ghost norms fell back to one backward per item: a hook saw the other stream")

    monkeypatch.setattr(gradnorm, "_one_by_one", no_fallback)

    def figures() -> tuple:
        sums, counts = answer_nll_sums(tiny.model, tiny.tokenizer, examples, batch_size=4)
        land = landscape(tiny.model, tiny.tokenizer, examples[:4], RemindConfig(k=2))
        params = [id(p) for p in tiny.model.parameters()]  # functional_call swaps leaves in and weights back
        norms = gradient_norms(
            tiny.model, tiny.tokenizer, examples[:7], batch_size=2
        )  # ghost norms, this thread's hooks
        assert [id(p) for p in tiny.model.parameters()] == params
        return sums, counts, answer_losses(tiny.model, stack, labels, batch_size=4), land.loss, land.neighbours, norms

    side_by_side = figures()
    monkeypatch.setattr(cs, "STREAMS", 1)
    assert cs.streams(CPU) == 1
    for a, b in zip(side_by_side, figures(), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_greedy_answers_decode_alternate_rows_side_by_side_and_give_the_plain_loop_s_answers(
    tiny, two_threads, monkeypatch
) -> None:
    questions = [f"Question number {i} about {'x' * (i % 7)}?" for i in range(9)]
    seen: list[tuple[str, int]] = []
    decode = greedy.decode

    def watched(model, batches, *args):
        seen.append((threading.current_thread().name, sum(len(b["input_ids"]) for b in batches)))
        return decode(model, batches, *args)

    monkeypatch.setattr(greedy, "decode", watched)
    side_by_side = generate_answers(tiny.model, tiny.tokenizer, questions, max_new_tokens=6)

    def echo(model, batches, *args):  # each row "answers" with its own prompt: rows out of order would show
        return [
            [t for t, m in zip(row.tolist(), mask.tolist(), strict=True) if m]
            for b in batches
            for row, mask in zip(b["input_ids"], b["attention_mask"], strict=True)
        ]

    monkeypatch.setattr(greedy, "decode", echo)
    echoed = generate_answers(tiny.model, tiny.tokenizer, questions, max_new_tokens=6)
    assert all(q in a for q, a in zip(questions, echoed, strict=True)), echoed
    monkeypatch.setattr(greedy, "decode", watched)
    assert sorted(n for _, n in seen) == [4, 5] and all(name.startswith("unlearn-stream") for name, _ in seen)
    seen.clear()
    monkeypatch.setattr(cs, "STREAMS", 1)
    assert generate_answers(tiny.model, tiny.tokenizer, questions, max_new_tokens=6) == side_by_side
    assert [n for _, n in seen] == [9]


def test_the_head_on_one_thread_s_answer_positions_leaves_another_thread_s_forward_alone(tiny) -> None:
    """forward.head_rows gathers the head's input for its own call; a forward of the same model in
    another thread meanwhile (the other stream) must get its own answer logits, not this call's rows."""
    examples = [Example(f"Question {i}?", f"Answer number {i}.") for i in range(3)]
    batch = encode_batch(examples, tiny.tokenizer, device=tiny.model.device)
    alone = answer_logits(tiny.model, batch)
    got: list = []
    with torch.inference_mode(), head_rows(tiny.model, torch.zeros((3, 1), dtype=torch.long)) as fired:
        other = threading.Thread(target=lambda: got.append(answer_logits(tiny.model, batch)))
        other.start()
        other.join()
    assert fired == []  # the other thread's head call did not count as this one's
    for a, b in zip(got[0], alone, strict=True):
        torch.testing.assert_close(a, b)


def test_after_an_error_no_stream_runs_on_and_the_threads_stay_put_back(two_threads) -> None:
    """Items still queued when one fails are dropped, and one already running ends before the count
    comes back: a late item would set the process's threads to its share again."""
    started: list[int] = []

    def fn(x: int) -> int:
        started.append(x)
        if x == 0:
            raise ValueError("first item")
        threading.Event().wait(0.2)  # item 1 is still running when item 0's error reaches the caller
        return x

    with pytest.raises(ValueError, match="first item"):
        list(cs.stream_map(fn, range(8), CPU))
    count = len(started)
    threading.Event().wait(0.3)
    assert len(started) == count < 8  # nothing ran after the call returned
    assert torch.get_num_threads() == 2
