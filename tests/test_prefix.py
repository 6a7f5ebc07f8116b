"""Rows that open alike are scored with their shared opening run once (issue 19: the quick demo's
before/after figures and live curves): the same logits as the full forward, two model calls, and the
plain forward wherever the sharing cannot apply."""

from __future__ import annotations

import math

import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE
from unlearn.model.forward import answer_logits
from unlearn.model.prefix import MIN_SHARED, shared_length, shared_prefix_logits
from unlearn.model.scoring import answer_nll


def _batch(opening: int, lengths: list[int], answers: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """Right-padded rows of random ids: `opening` shared columns, then each row's own tokens, the
    last `answers[r]` of them labelled."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randint(5, 90, (opening,), generator=g)
    t = max(lengths)
    ids = torch.zeros(len(lengths), t, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, IGNORE)
    for r, (n, a) in enumerate(zip(lengths, answers, strict=True)):
        ids[r, :opening] = shared
        ids[r, opening:n] = torch.randint(5, 90, (n - opening,), generator=g)
        mask[r, :n] = 1
        labels[r, n - a : n] = ids[r, n - a : n]
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_the_shared_opening_gives_the_full_forwards_logits(tiny) -> None:
    batch = {k: v.to(tiny.device) for k, v in _batch(12, [20, 17, 23], [4, 3, 6]).items()}
    assert shared_length(batch) == 12
    calls: list[int] = []
    hook = tiny.model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
    with torch.no_grad():
        shared = shared_prefix_logits(tiny.model, batch)
    hook.remove()
    assert shared is not None and len(calls) == 2  # the opening once, then the rows' own tokens
    with torch.no_grad():
        full = answer_logits(tiny.model, batch)
    torch.testing.assert_close(shared[1], full[1], rtol=0, atol=0)  # the same window of labels
    torch.testing.assert_close(shared[0], full[0], rtol=1e-4, atol=1e-5)


def test_it_steps_aside_where_it_cannot_apply(tiny) -> None:
    short = _batch(MIN_SHARED - 1, [20, 17], [4, 3])  # too little shared to be worth a second call
    one = _batch(12, [20], [4])  # a single row shares nothing with another
    # an answer starts inside the shared opening (column 12 of 12 shared, window from 11): the opening
    # run once stops before the window, whose logits must come from the rows' own forward
    early = _batch(12, [30, 26], [4, 14])
    assert shared_prefix_logits(tiny.model, short) is None
    assert shared_prefix_logits(tiny.model, one) is None
    got = shared_prefix_logits(tiny.model, early)
    full = answer_logits(tiny.model, early)
    assert got is not None and got[0].shape == full[0].shape
    torch.testing.assert_close(got[0], full[0], rtol=1e-4, atol=1e-5)


def test_answer_nll_is_unchanged_by_the_sharing(tiny, monkeypatch) -> None:
    from unlearn.model import packing, prefix

    items = [Example(f"Who wrote book number {i}?", f"Author {i} wrote it.") for i in range(5)]
    shared = answer_nll(tiny.model, tiny.tokenizer, items)
    monkeypatch.setattr(packing, "packed_logits", lambda model, batch: None)
    monkeypatch.setattr(prefix, "shared_prefix_logits", lambda model, batch: None)
    plain = answer_nll(tiny.model, tiny.tokenizer, items)
    assert abs(shared - plain).max() < 1e-5


def lora_gradients(lm, batch: dict[str, torch.Tensor], *ways) -> list[list[torch.Tensor]]:  # noqa: ANN001
    """The LoRA gradients of the mean answer NLL computed by each of `ways` (functions of model and
    batch giving logits and labels), from the same adapters, moved off their B = 0 start (which would
    zero the A gradients); the model is left as it was."""
    from unlearn.train.losses import mean_nll
    from unlearn.train.params import make_trainable

    torch.manual_seed(0)
    tr = make_trainable(lm.model, "lora", None, 4)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.05)
    grads = []
    for logits_of in ways:
        mean_nll(*logits_of(lm.model, batch)).backward()
        grads.append([p.grad.clone() for p in tr.params])
        for p in tr.params:
            p.grad = None
    tr.reset()
    return grads


def test_training_through_the_shared_opening_gives_the_full_forwards_gradient(tiny) -> None:
    batch = {k: v.to(tiny.device) for k, v in _batch(12, [20, 17, 23], [4, 3, 6], seed=1).items()}
    shared, full = lora_gradients(tiny, batch, shared_prefix_logits, answer_logits)
    for a, b in zip(shared, full, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_the_flop_count_counts_a_shared_opening_once() -> None:
    from unlearn.tools.flops import step_flops

    f = _batch(12, [20, 17, 23], [4, 3, 6])  # 60 real tokens, 12 of them shared by 3 rows
    r = _batch(2, [10, 9], [3, 3])  # shares too little: every token computed
    # body weights only (n_head = n_lora = 0): forget 4N + reference 2N per token, retain 4N
    assert step_flops(f, r, n_body=1, n_head=0, n_lora=0) == (60 - 2 * 12) * 6 + 19 * 4
    # a run that reads its reference from the before-measurement makes no reference pass: 4N only
    assert step_flops(f, r, n_body=1, n_head=0, n_lora=0, reference_pass=False) == (60 - 2 * 12) * 4 + 19 * 4


def test_remind_neighbourhoods_run_their_shared_opening_once(tiny, monkeypatch) -> None:
    # a neighbourhood changes question tokens only: its rows share the chat template's opening
    from unlearn.audit.remind import RemindConfig, answer_losses, neighbourhoods
    from unlearn.model import packing, prefix
    from unlearn.model.prefix import shared_columns

    ex = Example("Who wrote the red book about the old harbour town?", "Anna Berg wrote it.")
    (hood,) = neighbourhoods(tiny.model, tiny.tokenizer, [ex], RemindConfig(m=3, k=4))
    # the tiny model's template has no system prompt: put one before every row, as SmolLM2's has
    system = tiny.tokenizer("You are a helpful assistant; answer briefly.", add_special_tokens=False)["input_ids"]
    ids = torch.tensor([system + list(r) for r in hood.rows], device=tiny.device)
    labels = torch.tensor([[IGNORE] * len(system) + list(hood.labels)], device=tiny.device).expand(len(ids), -1)
    batch = {"input_ids": ids, "labels": labels, "attention_mask": torch.ones_like(ids)}
    assert shared_columns(batch) >= MIN_SHARED and (ids != ids[:1]).any()  # shared opening, changed rows
    calls: list[int] = []
    hook = tiny.model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
    shared = answer_losses(tiny.model, ids, labels, batch_size=8)
    hook.remove()
    assert len(calls) == 2 * math.ceil(len(ids) / 8)  # per forward: the opening once, then the rows' own tokens
    monkeypatch.setattr(packing, "packed_logits", lambda m, b: None)
    monkeypatch.setattr(prefix, "shared_prefix_logits", lambda m, b: None)  # the plain forward
    torch.testing.assert_close(
        torch.tensor(shared), torch.tensor(answer_losses(tiny.model, ids, labels, 8)), rtol=1e-5, atol=1e-6
    )


def _grouped(opening: int, questions: list[int], rows: list[tuple[int, int]], seed: int = 2) -> dict[str, torch.Tensor]:
    """Right-padded rows: `opening` columns shared by all, then group g's question (`questions[g]`
    random tokens, the same in each of its rows), then each row's own answer of its length (labelled)."""
    g = torch.Generator().manual_seed(seed)
    shared = torch.randint(5, 90, (opening,), generator=g).tolist()
    asked = [torch.randint(5, 90, (n,), generator=g).tolist() for n in questions]
    seqs = [(shared + asked[q], torch.randint(5, 90, (a,), generator=g).tolist()) for q, a in rows]
    t = max(len(c) + len(a) for c, a in seqs)
    ids = torch.zeros(len(rows), t, dtype=torch.long)
    mask, labels = torch.zeros_like(ids), torch.full_like(ids, IGNORE)
    for r, (c, a) in enumerate(seqs):
        ids[r, : len(c) + len(a)] = torch.tensor(c + a)
        mask[r, : len(c) + len(a)] = 1
        labels[r, len(c) : len(c) + len(a)] = torch.tensor(a)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def test_rows_sharing_their_question_give_the_full_forwards_answer_losses(tiny) -> None:
    from unlearn.model.prefix import grouped_prefix_logits
    from unlearn.train.losses import sequence_nll

    # three answers to question 0, two to question 1 (longer), one to question 2, in mixed order
    rows = [(0, 5), (1, 3), (0, 2), (2, 7), (1, 6), (0, 4)]
    for opening in (12, MIN_SHARED - 3):  # with the batch's opening run apart, and without
        batch = {k: v.to(tiny.device) for k, v in _grouped(opening, [6, 9, 4], rows).items()}
        calls: list[int] = []
        hook = tiny.model.register_forward_pre_hook(lambda m, a, kw, seen=calls: seen.append(1), with_kwargs=True)
        with torch.no_grad():
            grouped = grouped_prefix_logits(tiny.model, batch)
        hook.remove()
        assert grouped is not None
        assert len(calls) == (3 if opening >= MIN_SHARED else 2)  # opening, the 3 questions, the 6 answers
        assert grouped[0].shape[1] == 1 + 7  # from the column before an answer to the longest answer's end
        with torch.no_grad():
            full = sequence_nll(*answer_logits(tiny.model, batch))
        got = sequence_nll(*grouped)
        torch.testing.assert_close(got[1], full[1], rtol=0, atol=0)  # every answer token counted once
        torch.testing.assert_close(got[0], full[0], rtol=1e-4, atol=1e-4)


def test_grouping_steps_aside_where_no_question_repeats(tiny) -> None:
    from unlearn.model.prefix import grouped_prefix_logits

    distinct = _grouped(12, [6, 9], [(0, 5), (1, 3)])
    left = _grouped(12, [6], [(0, 5), (0, 3)])
    pads = [int((m == 0).sum()) for m in left["attention_mask"]]
    for k in left:  # the same rows left-padded: the question no longer sits in the same columns
        left[k] = torch.stack([torch.roll(row, n) for row, n in zip(left[k], pads, strict=True)])
    assert grouped_prefix_logits(tiny.model, distinct) is None
    assert grouped_prefix_logits(tiny.model, left) is None


def test_answer_nll_of_truth_ratio_variants_is_unchanged_by_the_grouping(tiny, monkeypatch) -> None:
    from unlearn.audit.tofu_metrics import variants
    from unlearn.model import packing, prefix, scoring

    items = [
        Example(f"Who wrote book {i}?", f"Author {i} wrote it.", perturbed_answers=[f"Nobody {j}." for j in range(i)])
        for i in range(1, 5)
    ]
    flat, _, _ = variants(items)
    used: list[bool] = []

    def spy(model, batch):  # noqa: ANN001, ANN202
        out = prefix.grouped_prefix_logits(model, batch)
        used.append(out is not None)
        return out

    monkeypatch.setattr(scoring, "grouped_prefix_logits", spy)
    grouped = answer_nll(tiny.model, tiny.tokenizer, flat, batch_size=6)
    assert any(used)  # the order put answers to one question in one batch, and they were grouped
    monkeypatch.setattr(scoring, "grouped_prefix_logits", lambda m, b: None)
    monkeypatch.setattr(packing, "packed_logits", lambda m, b: None)
    monkeypatch.setattr(prefix, "shared_prefix_logits", lambda m, b: None)
    plain = answer_nll(tiny.model, tiny.tokenizer, flat, batch_size=6)
    assert abs(grouped - plain).max() < 1e-5
