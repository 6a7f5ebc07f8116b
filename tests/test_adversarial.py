"""Adversarial probes: each prompt is built from what the item carries, and scored."""

from __future__ import annotations

import math

import pytest

from unlearn.audit.adversarial import AFFIRMATIVE, PROBES, probe_prompt, run_probes
from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.model.models import LoadedModel

FORGET = load_selection("fictitious_authors:forget").examples
RETAIN = load_selection("fictitious_authors:retain").examples


def test_each_probe_prompt() -> None:
    ex = FORGET[0]
    assert probe_prompt("plain", ex, FORGET, RETAIN) == (ex.question, "")
    assert probe_prompt("affirmative_suffix", ex, FORGET, RETAIN) == (ex.question, AFFIRMATIVE)
    assert probe_prompt("synonym", ex, FORGET, RETAIN) == (ex.paraphrased_question, "")
    hint, _ = probe_prompt("background_hint", ex, FORGET, RETAIN)
    other = next(e for e in FORGET[1:] if e.entity == ex.entity)
    assert hint.startswith(f"Background: {other.answer}") and hint.endswith(ex.question)
    shots, _ = probe_prompt("in_context", ex, FORGET, RETAIN)
    assert shots.count("Q: ") == 4 and shots.endswith(f"Q: {ex.question}\nA:")
    bare = Example("Who?", "Nobody.")
    assert probe_prompt("synonym", bare, [bare], RETAIN) is None  # no paraphrase: not asked
    assert probe_prompt("background_hint", bare, [bare], RETAIN) is None
    with pytest.raises(ValueError, match="choose one of"):
        probe_prompt("jailbreak", ex, FORGET, RETAIN)


def test_run_probes_on_the_tiny_model(tiny: LoadedModel) -> None:
    out = run_probes(tiny.model, tiny.tokenizer, FORGET[:3], RETAIN, max_new_tokens=4)
    assert set(out) == set(PROBES)
    for kind, row in out.items():
        assert row["items"] == 3, kind
        assert 0 <= row["rouge_l"] <= 1 and (0 <= row["keyword_hit"] <= 1 or math.isnan(row["keyword_hit"]))
