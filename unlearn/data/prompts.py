"""Turn examples into token ids: chat-formatted prompt, answer labels, padded batches.

Loss and probabilities are always measured on the answer tokens only: prompt positions get
label -100, the convention of HF `outputs.loss` and of every unlearning paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import PreTrainedTokenizerBase

from unlearn.data.examples import Example

IGNORE = -100
FALLBACK_TEMPLATE = "Question: {question}\nAnswer:"


def chat_prompt(tokenizer: PreTrainedTokenizerBase, question: str) -> str:
    """The text a chat model sees before its answer (its own chat template when it has one)."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=False
        )
    return FALLBACK_TEMPLATE.format(question=question)


@dataclass
class Encoded:
    input_ids: list[int]
    labels: list[int]  # IGNORE on prompt positions
    truncated: bool = False

    @property
    def n_answer_tokens(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


def encode(tokenizer: PreTrainedTokenizerBase, ex: Example, max_length: int = 256, add_eos: bool = False) -> Encoded:
    """Token ids and labels for one example.

    QA: chat prompt + answer, labels on the answer only. Passages (no question): labels on every
    token after the first. `add_eos` appends the end-of-turn token so a taught model learns to stop.
    Too long: the prompt is cut from the left (the answer is what is measured), then the answer
    from the right, and `truncated` says so.
    """
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if ex.is_qa:
        # the chat template already writes any BOS token, so add none a second time
        prompt_ids = tokenizer(chat_prompt(tokenizer, ex.question), add_special_tokens=not has_template)["input_ids"]
        answer_text = ex.answer if has_template else " " + ex.answer
    else:
        prompt_ids, answer_text = [], ex.answer
    answer_ids = tokenizer(answer_text, add_special_tokens=not ex.is_qa)["input_ids"]
    if add_eos and tokenizer.eos_token_id is not None:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    truncated = False
    if len(prompt_ids) + len(answer_ids) > max_length:
        truncated = True
        keep_prompt = max(0, max_length - len(answer_ids))
        prompt_ids = prompt_ids[len(prompt_ids) - keep_prompt :] if keep_prompt else []
        answer_ids = answer_ids[: max_length - len(prompt_ids)]
    ids = prompt_ids + answer_ids
    if ex.is_qa:
        labels = [IGNORE] * len(prompt_ids) + answer_ids
    else:
        labels = [IGNORE] + answer_ids[1:]  # the first token has no context to predict it from
    return Encoded(ids, labels, truncated)


def collate(items: list[Encoded], pad_id: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """Right-pad a list of encoded examples into a batch dict for `model(**batch)`."""
    width = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)  # (B, T)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(items), width), dtype=torch.long)  # (B, T)
    for i, e in enumerate(items):
        n = len(e.input_ids)
        ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        mask[i, :n] = 1
    batch = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    return {k: v.to(device) for k, v in batch.items()} if device is not None else batch


def question_mask(tokenizer: PreTrainedTokenizerBase, prompt_ids: list[int]) -> list[bool]:
    """True at the prompt positions that belong to the question: the span where the prompt with the
    question and the prompt with an empty question differ (the template is the same around it)."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    empty = tokenizer(chat_prompt(tokenizer, ""), add_special_tokens=not has_template)["input_ids"]
    pre = 0
    while pre < min(len(empty), len(prompt_ids)) and empty[pre] == prompt_ids[pre]:
        pre += 1
    post = 0
    while post < min(len(empty), len(prompt_ids)) - pre and empty[-1 - post] == prompt_ids[-1 - post]:
        post += 1
    keep = [pre <= i < len(prompt_ids) - post for i in range(len(prompt_ids))]
    if not any(keep):  # a template that rewrites the question: attribute the whole prompt
        keep = [True] * len(prompt_ids)
    return keep
