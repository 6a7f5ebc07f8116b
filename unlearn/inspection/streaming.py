"""Generation shown token by token, as chat apps do, with the very decoding of `model.generate`.

Two pieces. `TextStreamer` is handed to `model.generate(streamer=...)`: after every decoding step
it decodes each row's tokens so far and passes the texts on, so the streamed text is the text the
same call returns (nothing is re-implemented: same logits processors, same seed, same stop).
`in_thread` runs blocking work on the model (which holds the model lock for all of it) in a worker
thread and hands its results to a generator handler as they come. The lock cannot be held by the
handler itself: Gradio runs each step of a generator on whichever pool thread is free, and a lock
must be released by the thread that took it.

    >>> list(in_thread(lambda emit: emit("a", partial=True) or emit("b", partial=True) or 2))[-1]
    ('done', 2)
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import torch
from transformers import PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer


class Stopped(Exception):
    """Raised inside the work when its reader has gone (the handler's generator was closed): the
    generation stops at its next token and the context managers on the way out restore the model."""


class Emit(Protocol):
    def __call__(self, value: Any, partial: bool = False) -> None: ...


class TextStreamer(BaseStreamer):
    """Calls `on_texts(texts)` after each generated token, one text per batch row: the row's new
    tokens decoded as `generate`'s caller decodes them (special tokens skipped, stripped). A byte
    that is the first half of a character (byte-level BPE) is held back until the character is
    whole; the last call, at the end of generation, holds nothing back: it is the text returned.
    A step that changes no text (a special token, a finished row's padding) calls nothing."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, on_texts: Callable[[list[str]], None]) -> None:
        self.tokenizer = tokenizer
        self.on_texts = on_texts
        self.rows: list[list[int]] | None = None  # None until generate() has passed the prompt
        self.sent: list[str] | None = None

    def put(self, value: torch.Tensor) -> None:
        if self.rows is None:  # generate() first puts the prompt, (B, P): not part of the answer
            self.rows, self.sent = [[] for _ in range(value.shape[0] if value.dim() > 1 else 1)], None
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):  # (B,): one new token per row
            row.append(token)
        self._send(hold_back=True)

    def end(self) -> None:
        if self.rows is not None:
            self._send(hold_back=False)
        self.rows = None  # ready for another generate() call

    def _send(self, hold_back: bool) -> None:
        texts = [t.strip() for t in self.tokenizer.batch_decode(self.rows, skip_special_tokens=True)]
        texts = [t.removesuffix("\ufffd") for t in texts] if hold_back else texts
        if texts != self.sent:
            self.sent = texts
            self.on_texts(texts)


_DONE, _ERROR, _PARTIAL, _EVENT = "done", "error", "partial", "event"


def in_thread(work: Callable[[Emit], Any]) -> Iterator[tuple[str, Any]]:
    """Run `work(emit)` in a worker thread; yield `("partial", x)` for each `emit(x, partial=True)`,
    `("event", x)` for each `emit(x)`, then `("done", result)`. An exception in `work` is raised here.

    Of several partials waiting in a row only the newest is yielded: each is the whole text so far,
    so a page slower than the model skips states instead of falling behind. Events are never
    skipped. The thread runs in a copy of the caller's context (Gradio's request-bound pop-ups
    still reach the page). Closing this generator makes the next `emit` raise `Stopped` in the work."""
    q: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
    gone = threading.Event()

    def emit(value: Any, partial: bool = False) -> None:
        if gone.is_set():
            raise Stopped("nobody is reading this work any more")
        q.put((_PARTIAL if partial else _EVENT, value))

    def main() -> None:
        try:
            q.put((_DONE, work(emit)))
        except BaseException as e:  # handed to the reader, never lost in the thread
            q.put((_ERROR, e))

    ctx = contextvars.copy_context()
    threading.Thread(target=ctx.run, args=(main,), daemon=True).start()
    try:
        ahead: tuple[str, Any] | None = None
        while True:
            kind, value = ahead or q.get()
            ahead = None
            while kind == _PARTIAL:  # skip to the newest partial, keep what follows it
                try:
                    nxt = q.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] == _PARTIAL:
                    value = nxt[1]
                else:
                    ahead = nxt
                    break
            if kind == _ERROR:
                raise value
            yield kind, value
            if kind == _DONE:
                return
    finally:
        gone.set()
