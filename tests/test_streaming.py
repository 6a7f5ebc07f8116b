"""Generation streamed token by token gives the very text the plain call returns; the worker thread
hands its results over as they come, the newest text only, and stops when nobody reads."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest

from unlearn.data.examples import Example
from unlearn.inspection.compare import Decoding, compare, generate
from unlearn.inspection.streaming import Stopped, TextStreamer, in_thread
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import generate_answers

from .test_compare import _changed  # LoRA adapters made non-zero: the tiny model then writes text after

Q = "Who wrote the Harry Potter books?"
EX = Example(Q, "J.K. Rowling wrote them.")


def _recorder(tokenizer) -> tuple[TextStreamer, list[list[str]]]:
    seen: list[list[str]] = []
    return TextStreamer(tokenizer, seen.append), seen


@pytest.mark.parametrize(
    "dec", [Decoding(12), Decoding(12, sample=True, temperature=1.0, seed=3)], ids=["greedy", "sampled"]
)
def test_streamed_generation_ends_on_the_text_generate_returns(tiny: LoadedModel, dec: Decoding) -> None:
    _changed(tiny)
    streamer, seen = _recorder(tiny.tokenizer)
    streamed = generate(tiny.model, tiny.tokenizer, Q, dec, streamer=streamer)
    plain = generate(tiny.model, tiny.tokenizer, Q, dec)
    assert streamed == plain and plain, "same decoding (and seed) with and without the streamer"
    assert seen[-1] == [plain]
    assert len(seen) > 3 and len({s[0] for s in seen}) == len(seen), "the text grows as it is written, once a change"


def test_streamed_greedy_answers_equal_generate_answers(tiny: LoadedModel) -> None:
    _changed(tiny)
    streamer, seen = _recorder(tiny.tokenizer)
    streamed = generate_answers(tiny.model, tiny.tokenizer, [Q], 10, streamer=streamer)
    assert streamed == generate_answers(tiny.model, tiny.tokenizer, [Q], 10) == [seen[-1][0]]


@pytest.mark.bundled
def test_the_bundled_model_answer_streams_to_the_same_text(bundled: LoadedModel) -> None:
    streamer, seen = _recorder(bundled.tokenizer)
    streamed = generate_answers(bundled.model, bundled.tokenizer, [Q], 24, streamer=streamer)[0]
    assert streamed == generate_answers(bundled.model, bundled.tokenizer, [Q], 24)[0] == seen[-1][0]
    assert "Rowling" in streamed and len({s[0] for s in seen}) >= 5


def test_compare_shows_its_probes_then_both_answers_growing(tiny: LoadedModel) -> None:
    """A gold answer: the probes come first (their panels need no generation), then both answers of
    one batched LoRA generation grow together; the last texts shown are the comparison's."""
    tr = _changed(tiny)
    log: list[tuple[str, object]] = []
    dec = Decoding(max_new_tokens=8)
    kw = dict(side_by_side=tr.side_by_side)
    c = compare(
        tiny.model,
        tiny.tokenizer,
        tr.reference,
        EX,
        dec,
        True,
        "run",
        on_probes=lambda c: log.append(("probes", c)),
        on_text=lambda b, a: log.append(("text", (b, a))),
        **kw,
    )
    plain = compare(tiny.model, tiny.tokenizer, tr.reference, EX, dec, True, "run", **kw)
    assert [k for k, _ in log[:2]] == ["probes", "text"] and [k for k, _ in log].count("probes") == 1
    assert log[0][1] is c and log[-1] == ("text", (c.before.generation, c.after.generation))
    assert (c.before.generation, c.after.generation) == (plain.before.generation, plain.after.generation)
    assert c.after.generation and len({a for k, (b, a) in log[1:] if k == "text"}) > 3


def test_free_text_streams_its_answers_before_the_probes(tiny: LoadedModel) -> None:
    """Free text is scored on the before model's answer: the answers come first. Without a run the
    one answer is shown on both sides."""
    _changed(tiny)  # the model "as it is" writes text
    log: list[str] = []
    on_text = lambda b, a: log.append("same" if b == a else "differ")  # noqa: E731
    c = compare(
        tiny.model,
        tiny.tokenizer,
        contextlib.nullcontext,
        Example(Q, ""),
        Decoding(8),
        False,
        "self",
        on_probes=lambda c: log.append("probes"),
        on_text=on_text,
    )
    assert log[-1] == "probes" and set(log[:-1]) == {"same"} and len(log) > 2
    assert c.example.answer == c.before.generation == c.after.generation


def test_in_thread_yields_the_newest_partial_and_every_event() -> None:
    release = threading.Event()

    def work(emit) -> str:
        for i in range(50):
            emit(i, partial=True)
        emit("probes")
        emit(50, partial=True)
        release.wait(5)
        return "done"

    got = []
    for kind, value in in_thread(work):
        if not got:
            time.sleep(0.3)  # a slow page: the work is far ahead by now
        got.append((kind, value))
        if value == 50:
            release.set()
    assert ("event", "probes") in got and got[-1] == ("done", "done")
    partials = [v for k, v in got if k == "partial"]
    assert partials == sorted(partials) and partials[-1] == 50 and len(partials) < 10, partials


def test_in_thread_raises_the_work_error_and_stops_the_work_nobody_reads() -> None:
    def failing(emit) -> None:
        emit("a", partial=True)
        raise ValueError("bad input")

    with pytest.raises(ValueError, match="bad input"):
        list(in_thread(failing))
    stopped = threading.Event()

    def endless(emit) -> None:
        try:
            while True:
                emit("more", partial=True)
                time.sleep(0.01)
        except Stopped:
            stopped.set()
            raise

    events = in_thread(endless)
    next(events)
    events.close()  # the page went away
    assert stopped.wait(5), "the work was told to stop"


def test_ask_and_ask_both_stream_their_answers(app_tiny: LoadedModel, tmp_path) -> None:
    """Ask shows the answer as it is written and ends on the answer generate_answers gives; Ask both
    writes the answer before the run, then the one after it."""
    from unlearn.serve.store import STORE, ActiveRun

    from . import tabs

    tr = _changed(app_tiny)  # a "run" with random adapters: after writes text
    STORE.set_run(ActiveRun(str(tmp_path / "perturbed"), {"id": "perturbed", "method": "npo"}, tr))
    asked = list(tabs.ask_ui(Q, 24))
    answer = generate_answers(app_tiny.model, app_tiny.tokenizer, [Q], 24)[0]
    assert asked[-1] == answer and len(set(asked)) > 3 and asked == sorted(asked, key=len)
    both = list(tabs.ask_both_ui(Q, 24))
    with tr.reference():
        before = generate_answers(app_tiny.model, app_tiny.tokenizer, [Q], 24)[0] or "(no text)"
    assert both[-1] == (before, answer)
    afters = [a for b, a in both if a]
    assert all(b == before for b, a in both if a) and len(set(afters)) > 3, "before first, then after grows"
