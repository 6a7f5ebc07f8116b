"""The quantization attack as an audit part (arXiv 2410.16454; the quantizer is in quantize.py): the
after model quantized to each bit width, and how much of the forget set's knowledge comes back.

Measured per bit width on the forget set (and the retain set alongside, to see what quantization
costs by itself): P̃ (exp of the mean answer NLL over the set), ROUGE-L recall of the greedy answer
and the share of answers naming a keyword of the gold answer. The same figures for the model before
quantized tell quantization's own damage apart from recovered knowledge.

recovery = (m_quantized − m_after) / (m_before − m_after), m the forget set's P̃ (as the relearning
attack's): 0 = quantization brought nothing back, 1 = the forget set is as known as before the run,
negative = quantization damaged the forget answers further. `rouge_recovery` is the same with ROUGE-L,
the paper's knowledge-memorisation measure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.quantize import quantized
from unlearn.audit.relearn import recovery
from unlearn.audit.tofu_metrics import rouge_l_recall
from unlearn.data.examples import Example
from unlearn.model.scoring import answer_nll, generate_answers, mentions, set_prob

Figures = dict[str, float]


def knowledge_figures(items: Sequence[Example], losses: Sequence[float], answers: Sequence[str] | None) -> Figures:
    """P̃ of the set from its items' mean answer NLLs, and (with greedy answers) mean ROUGE-L recall and
    the keyword-hit rate. The audit passes the losses and answers it already has for before and after."""
    out: Figures = {"prob": set_prob(np.asarray(losses, dtype=np.float64))}
    if answers is not None:
        out["rouge_l"] = float(np.mean([rouge_l_recall(a, e.answer) for a, e in zip(answers, items, strict=True)]))
        out["keyword_hit"] = float(
            np.mean([mentions(a, e.answer_keywords()) for a, e in zip(answers, items, strict=True)])
        )
    return out


def knowledge(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    sets: dict[str, Sequence[Example]],
    max_new_tokens: int,
) -> dict[str, Figures]:
    """`knowledge_figures` of each set under the model as it computes now. The questions of every
    set are answered in one batched generation (a decode step's fixed cost paid once: scoring.py)."""
    asked = {name: [e.question for e in items] for name, items in sets.items() if items}
    askable = [q for qs in asked.values() if all(qs) for q in qs]
    answers = iter(generate_answers(model, tokenizer, askable, max_new_tokens) if askable else [])
    out = {}
    for name, qs in asked.items():
        replies = [next(answers) for _ in qs] if all(qs) else None
        out[name] = knowledge_figures(sets[name], answer_nll(model, tokenizer, sets[name]), replies)
    return out


def quantization_attack(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    forget: Sequence[Example],
    retain: Sequence[Example],
    before: Callable[[], AbstractContextManager[Any]],
    bits: Sequence[int] = (8, 4),
    max_new_tokens: int = 48,
    say: Callable[[str], None] = lambda _: None,
    baseline: dict[str, Figures] | None = None,
) -> dict[str, Any]:
    """Flat figures for the audit summary: `quantization_{b}bit_{split}_{figure}` for the after model
    quantized, `quantization_{b}bit_before_forget_prob` for the model before quantized, the unquantized
    before / after forget figures they are measured against, and `quantization_recovery_{b}bit`.
    `baseline` ({"before": ..., "after": ...} forget figures) saves measuring those twice."""
    out: dict[str, Any] = {"quantization_items": {"forget": len(forget), "retain": len(retain)}}
    if baseline is None:
        with before():
            baseline = {"before": knowledge(model, tokenizer, {"forget": forget}, max_new_tokens)["forget"]}
        baseline["after"] = knowledge(model, tokenizer, {"forget": forget}, max_new_tokens)["forget"]
    base_before, base_after = baseline["before"], baseline["after"]
    for name, value in base_before.items():
        out[f"quantization_forget_{name}_before"] = value
    for name, value in base_after.items():
        out[f"quantization_forget_{name}_after"] = value
    for b in bits:
        say(f"quantization attack: the after model at {b} bits")
        with quantized(model, b):
            for split, figures in knowledge(
                model, tokenizer, {"forget": forget, "retain": retain}, max_new_tokens
            ).items():
                for name, value in figures.items():
                    out[f"quantization_{b}bit_{split}_{name}"] = value
        with before(), quantized(model, b):
            out[f"quantization_{b}bit_before_forget_prob"] = set_prob(answer_nll(model, tokenizer, forget))
        out[f"quantization_recovery_{b}bit"] = recovery(
            out[f"quantization_{b}bit_forget_prob"], base_before["prob"], base_after["prob"]
        )
        if "rouge_l" in base_after:
            out[f"quantization_rouge_recovery_{b}bit"] = recovery(
                out[f"quantization_{b}bit_forget_rouge_l"], base_before["rouge_l"], base_after["rouge_l"]
            )
    return out
