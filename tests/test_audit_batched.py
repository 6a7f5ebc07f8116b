"""The audit's greedy generations and multiple-choice reads are batched (left padding; one joined
decoding per group of prompts, greedy.py, or one forward per batch) and give what one prompt at a time
gives: the Compare tab's `generate` for a probe (its assistant prefix and its prompt cut included), an
unpadded forward for a multiple-choice question."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from unlearn.audit.adversarial import PROBES, PROMPT_TOKENS, probes_to_ask, run_probes, with_prefix
from unlearn.audit.honesty import choice_prompt, multiple_choice
from unlearn.audit.tofu_metrics import rouge_l_recall
from unlearn.data.builtin import load_selection
from unlearn.inspection.compare import Decoding, generate
from unlearn.model import greedy
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import (
    encode_prompts,
    generate_answers,
    length_batches,
    mentions,
    next_token_logits,
    reply_prompt,
)

FORGET = load_selection("fictitious_authors:forget").examples[:4]
RETAIN = load_selection("fictitious_authors:retain").examples
NEW = 8  # new tokens per answer: enough for the rows of a batch to differ in what they write


def _counting(model: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the model's `generate` calls (one entry per call: its batch size)."""
    calls: list[int] = []
    real: Callable[..., Any] = model.generate

    def counted(**kw: Any) -> Any:
        calls.append(kw["input_ids"].shape[0])
        return real(**kw)

    monkeypatch.setattr(model, "generate", counted)
    return calls


def _prefills(monkeypatch: pytest.MonkeyPatch) -> list[list[int]]:
    """Records each joined decoding (greedy.decode): the sizes of the batches it prefills."""
    calls: list[list[int]] = []
    real = greedy.decode

    def counted(model: torch.nn.Module, batches: list[dict[str, torch.Tensor]], *args: Any) -> Any:
        calls.append([b["input_ids"].shape[0] for b in batches])
        return real(model, batches, *args)

    monkeypatch.setattr(greedy, "decode", counted)
    return calls


def reply_prompt_of(lm: LoadedModel) -> Callable[[Any], str]:
    return lambda a: reply_prompt(lm.tokenizer, a.message, a.prefix)


def _alone(lm: LoadedModel, message: str, prefix: str, max_prompt_tokens: int = PROMPT_TOKENS) -> str:
    return generate(lm.model, lm.tokenizer, message, Decoding(NEW), prefix, max_prompt_tokens=max_prompt_tokens)


def test_batched_probes_answer_and_score_as_one_at_a_time(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every probe's batched answer is the one-at-a-time answer, token for token; `run_probes` decodes
    each group of prompts as one and scores what the one-at-a-time loop scored."""
    asked = probes_to_ask(FORGET, RETAIN, PROBES)
    lengths = {len(tiny.tokenizer(reply_prompt(tiny.tokenizer, a.message, a.prefix))["input_ids"]) for a in asked}
    assert len(lengths) > 5 and any(a.prefix for a in asked)  # rows of many lengths pad; some replies pre-filled
    alone = [_alone(tiny, a.message, a.prefix) for a in asked]
    msgs, prefixes = [a.message for a in asked], [a.prefix for a in asked]
    batched = generate_answers(
        tiny.model, tiny.tokenizer, msgs, NEW, batch_size=7, prefixes=prefixes, max_prompt_tokens=PROMPT_TOKENS
    )
    assert any(alone) and batched == alone

    calls = _prefills(monkeypatch)
    heard: list[str] = []
    out = run_probes(
        tiny.model, tiny.tokenizer, FORGET, RETAIN, max_new_tokens=NEW, progress=heard.append, batch_size=5
    )
    # groups of at most 5 prompts in order of length, each decoded as one; within a group, batches of
    # similar length prefilled apart (scoring.length_batches, greedy.py)
    tokens = [
        len(ids)
        for ids in tiny.tokenizer(list(map(reply_prompt_of(tiny), asked)), add_special_tokens=False)["input_ids"]
    ]
    lengths = [min(n, PROMPT_TOKENS) for n in tokens]
    groups = length_batches(lengths, 5, math.inf)
    assert calls == [[len(b) for b in length_batches([lengths[i] for i in g], 5)] for g in groups]
    assert max(map(sum, calls)) == 5 and len(calls) == math.ceil(len(asked) / 5)
    assert any(len(c) > 1 for c in calls)  # prompts of different lengths prefilled apart, decoded together
    assert heard[-1] == f"adversarial probes {len(asked)} / {len(asked)}" and len(heard) == len(calls)
    texts = [with_prefix(a.prefix, t) for a, t in zip(asked, alone, strict=True)]  # as the old loop scored them
    for kind in PROBES:
        mine = [(a.item, t) for a, t in zip(asked, texts, strict=True) if a.kind == kind]
        hits = [mentions(t, ex.keywords) for ex, t in mine if ex.keywords]
        assert out[kind]["items"] == len(mine)
        assert out[kind]["rouge_l"] == pytest.approx(sum(rouge_l_recall(t, ex.answer) for ex, t in mine) / len(mine))
        assert out[kind]["keyword_hit"] == pytest.approx(sum(hits) / len(hits) if hits else math.nan, nan_ok=True)


def test_batched_prompt_cut_equals_one_at_a_time_cut(tiny: LoadedModel) -> None:
    """A prompt longer than `max_prompt_tokens` keeps its end in a batch as it does alone."""
    asked = probes_to_ask(FORGET[:2], RETAIN, ("plain", "affirmative_suffix", "in_context"))
    msgs, prefixes = [a.message for a in asked], [a.prefix for a in asked]
    batched = generate_answers(tiny.model, tiny.tokenizer, msgs, NEW, prefixes=prefixes, max_prompt_tokens=40)
    assert batched == [_alone(tiny, m, p, max_prompt_tokens=40) for m, p in zip(msgs, prefixes, strict=True)]


def test_probes_with_nothing_to_ask_generate_nothing(tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    calls, decoded = _counting(tiny.model, monkeypatch), _prefills(monkeypatch)
    out = run_probes(tiny.model, tiny.tokenizer, [], RETAIN, kinds=("plain",))
    assert calls == [] and decoded == [] and out["plain"]["items"] == 0 and math.isnan(out["plain"]["rouge_l"])


def test_padded_next_token_logits_equal_unpadded(tiny: LoadedModel) -> None:
    """The multiple-choice read: each row of a left-padded batch as that prompt alone."""
    prompts = [reply_prompt(tiny.tokenizer, "Who?"), *(reply_prompt(tiny.tokenizer, e.question) for e in FORGET)]
    batched = next_token_logits(tiny.model, encode_prompts(tiny.tokenizer, prompts, torch.device("cpu")))  # (B, V)
    with torch.inference_mode():
        ids = [tiny.tokenizer(p, return_tensors="pt", add_special_tokens=False)["input_ids"] for p in prompts]
        alone = torch.stack([tiny.model(input_ids=x).logits[0, -1] for x in ids])  # (B, V), no padding
    assert torch.allclose(batched, alone, atol=1e-5)


def test_multiple_choice_batched_equals_one_at_a_time(tiny: LoadedModel) -> None:
    items = load_selection("fictitious_authors:forget").examples[:6]
    assert len({len(choice_prompt(e, np.random.default_rng(0))[0]) for e in items}) > 1
    assert multiple_choice(tiny.model, tiny.tokenizer, items, batch_size=4) == multiple_choice(
        tiny.model, tiny.tokenizer, items, batch_size=1
    )
