"""Before | after for one prompt: both generations and both probes, computed once and kept per session.

`compare()` costs one generation and one forward per model; every Compare panel (token strips,
top-k at any position, logit lens, attention heads, rollout) is then drawn from the kept arrays, so
picking another position or head recomputes nothing. Attribution (several forwards) is on demand.

"Before" is the same weights inside `Trainable.reference()` (adapters off or saved tensors swapped
back), never a second model in memory.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase
from transformers.generation.streamers import BaseStreamer

from unlearn.data.examples import Example
from unlearn.data.prompts import chat_prompt
from unlearn.errors import UserError
from unlearn.inspection.probe import Probe, probe, rollout
from unlearn.inspection.streaming import TextStreamer
from unlearn.model.scoring import reply_prompt

MAX_TOKENS = 160  # prompt + answer kept for the probe; longer prompts are cut from the left, with a note


@dataclass
class Decoding:
    """The same settings (and seed) are used for both models, so a difference is the weights'."""

    max_new_tokens: int = 32  # tokens generated per side (decoding is most of the tab's time on a CPU)
    sample: bool = False  # greedy by default: deterministic, the usual choice for audits
    temperature: float = 0.7  # only when sampling
    top_p: float = 0.95  # only when sampling
    seed: int = 0  # reseeded before each side's generation

    def check(self) -> None:
        if not 1 <= self.max_new_tokens <= 512:
            raise UserError(f"max new tokens must be between 1 and 512, not {self.max_new_tokens}")
        if self.sample and not (0 < self.temperature <= 5 and 0 < self.top_p <= 1):
            raise UserError("sampling needs a temperature in (0, 5] and a top-p in (0, 1]")


@dataclass
class Side:
    generation: str
    probe: Probe
    rollout: np.ndarray = field(init=False)  # (T, T) attention rollout of the probe's maps

    def __post_init__(self) -> None:
        self.rollout = rollout(self.probe.attentions)


@dataclass
class Comparison:
    example: Example  # the prompt and the answer the probes score
    target: str  # "gold answer" or "the model's generation before"
    before: Side
    after: Side
    has_run: bool  # False: the model as loaded, against itself
    run_label: str
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def truncated(self) -> bool:
        return self.before.probe.truncated


def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    dec: Decoding,
    prefix: str = "",
    max_prompt_tokens: int = MAX_TOKENS,
    streamer: BaseStreamer | None = None,
) -> str:
    """One answer to a chat question with the given decoding settings; `prefix` pre-fills the start
    of the assistant's reply (the answer returned is what follows it). Longer prompts keep their end.
    A `streamer` (`unlearn.inspection.streaming.TextStreamer`) sees the answer grow token by token."""
    device = next(model.parameters()).device
    has_template = bool(getattr(tokenizer, "chat_template", None))
    text = reply_prompt(tokenizer, question, prefix)  # the prompt the audit's batched probes answer too
    batch = tokenizer(text, return_tensors="pt", add_special_tokens=not has_template)
    batch = {k: v[:, -max_prompt_tokens:].to(device) for k, v in batch.items()}
    torch.manual_seed(dec.seed)  # the same seed for both sides: sampling differs only by the weights
    kw: dict[str, Any] = (
        dict(do_sample=True, temperature=dec.temperature, top_p=dec.top_p, top_k=0)
        if dec.sample
        else dict(do_sample=False, temperature=None, top_p=None, top_k=None)
    )
    with torch.no_grad():
        out = model.generate(
            **batch, max_new_tokens=dec.max_new_tokens, pad_token_id=tokenizer.pad_token_id, streamer=streamer, **kw
        )
    return tokenizer.decode(out[0, batch["input_ids"].shape[1] :], skip_special_tokens=True).strip()


def generate_pair(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    dec: Decoding,
    streamer: BaseStreamer | None = None,
) -> tuple[str, str]:
    """Greedy answers of before and after in one batched generation: call it inside a trainable's
    `side_by_side()`, which makes row 0 compute as before and row 1 as after (a `streamer` sees
    both rows grow together)."""
    device = next(model.parameters()).device
    has_template = bool(getattr(tokenizer, "chat_template", None))
    prompt = chat_prompt(tokenizer, question)
    batch = tokenizer([prompt, prompt], return_tensors="pt", add_special_tokens=not has_template)
    batch = {k: v[:, -MAX_TOKENS:].to(device) for k, v in batch.items()}  # (2, P): identical rows, no padding
    with torch.no_grad():
        out = model.generate(
            **batch,
            max_new_tokens=dec.max_new_tokens,
            pad_token_id=tokenizer.pad_token_id,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            streamer=streamer,
        )
    new = out[:, batch["input_ids"].shape[1] :]  # (2, new)
    b, a = tokenizer.batch_decode(new, skip_special_tokens=True)
    return b.strip(), a.strip()


def compare(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    before: Callable[[], AbstractContextManager[Any]],
    ex: Example,
    dec: Decoding,
    has_run: bool,
    run_label: str,
    k: int = 5,
    side_by_side: Callable[[], AbstractContextManager[Any] | None] | None = None,
    on_probes: Callable[[Comparison], None] | None = None,
    on_text: Callable[[str, str], None] | None = None,
) -> Comparison:
    """Generate and probe with `before()` active, then without it (the model as it is now). Without a
    run (`has_run` False) both sides are the model as it is, computed once.
    With `side_by_side` (LoRA runs) and greedy decoding, both answers come from one batched generation.

    Passages (no question) are scored as they are and not generated from. A question without a gold
    answer (free text) is scored on the *before* model's own generation, so the strips show how
    much less likely the after model finds what the model used to say.

    For a page that shows results as they come: `on_probes(c)` receives the comparison as soon as
    both probes exist, and `on_text(before, after)` both answers so far after every generated token.
    With a gold answer the probes (one forward per model) come first and the generations after them,
    so every panel can be drawn while the answers are still being written; free text needs the
    before answer to score, so there the generations come first."""
    dec.check()
    times: dict[str, float] = {}
    gens = {"before": "", "after": ""}

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        val = fn()
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0
        return val

    def streamer(*sides: str) -> TextStreamer | None:
        """Shows the rows of one generate() call as `sides` (one row shown on both sides without a run)."""
        if on_text is None:
            return None
        shown = gens.copy()  # what the other side has so far

        def show(texts: list[str]) -> None:
            shown.update(zip(sides, texts * len(sides) if len(texts) == 1 else texts, strict=True))
            on_text(shown["before"], shown["after"])

        return TextStreamer(tokenizer, show)

    def gen(*sides: str) -> str:
        if not ex.is_qa:
            return ""
        s = streamer(*sides)
        if s is None:
            return generate(model, tokenizer, ex.question, dec)
        return generate(model, tokenizer, ex.question, dec, streamer=s)

    def generations() -> None:
        pair = side_by_side() if side_by_side is not None and has_run and ex.is_qa and not dec.sample else None
        if pair is not None:
            s = streamer("before", "after")
            with pair:
                gens["before"], gens["after"] = timed(
                    "generate", lambda: generate_pair(model, tokenizer, ex.question, dec, streamer=s)
                )
            return
        with before():
            gens["before"] = timed("generate", lambda: gen("before") if has_run else gen("before", "after"))
        gens["after"] = timed("generate", lambda: gen("after")) if has_run else gens["before"]

    def probes(ex: Example, target: str) -> Comparison:
        def one() -> Probe:
            return timed("probe", lambda: probe(model, tokenizer, ex, k=k, max_tokens=MAX_TOKENS))

        with before():
            p_before = one()
        p_after = one() if has_run else p_before  # without a run, one model: the same arrays, computed once
        sides = Side(gens["before"], p_before), Side(gens["after"], p_after)
        c = Comparison(ex, target, *sides, has_run, run_label, times)
        if on_probes is not None:
            on_probes(c)
        return c

    if ex.answer.strip():
        c = probes(ex, "gold answer")
        generations()
        c.before.generation, c.after.generation = gens["before"], gens["after"]
        return c
    generations()
    if not gens["before"]:
        raise UserError("the model before generated nothing to score: raise max new tokens or change the prompt")
    return probes(Example(ex.question, gens["before"]), "the model's generation before")


class SessionResults:
    """The last Comparison of each browser session, bounded: a few MB each (attention maps), and
    the oldest session's result goes first. Light per-session state stays in the browser.
    Handlers of different sessions run on different threads, hence the lock. How many sessions to
    keep is the server's choice (app.py --kept-results), so there is no default here."""

    def __init__(self, max_sessions: int) -> None:
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.max_sessions = max_sessions

    def put(self, session: str, value: Any) -> None:
        with self._lock:
            self._items[session] = value
            self._items.move_to_end(session)
            while len(self._items) > self.max_sessions:
                self._items.popitem(last=False)

    def get(self, session: str) -> Any:
        with self._lock:
            return self._items.get(session)

    def drop(self, session: str) -> None:
        """Forget a session's result (its browser tab was closed)."""
        with self._lock:
            self._items.pop(session, None)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self._items))
