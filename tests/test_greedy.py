"""Greedy answers prefilled by length and decoded as one batch (issue 19: the audit's probes and
answers): the tokens `generate` gives each prompt alone, rows leaving the batch as they end, and
`generate` itself wherever the joined decoding would not give its tokens."""

from __future__ import annotations

import torch

from unlearn.model import greedy
from unlearn.model.scoring import encode_prompts, generate_answers, reply_prompt

OPENING = "Background: the harbour town keeps a ledger of every ship, every captain and every cargo. "
QUESTIONS = [
    "Who wrote it?",
    OPENING + "Who kept the ledger?",
    "Where was the red book about the old harbour town first printed, and when?",
    OPENING + "Which ship came first to the harbour in the spring of that year?",
    OPENING + "Why?",
    "Name the captain.",
]


def _lively(lm) -> None:  # noqa: ANN001
    """The tiny model's weights redrawn larger: at its init scale every prompt's greedy answer is one
    token over and over, which would let a decoder that mixes rows up pass."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in lm.model.parameters():
            if p.dim() == 2:
                p.normal_(0, 0.3, generator=g)


def _alone(lm, question: str, n: int) -> list[int]:  # noqa: ANN001
    """`generate`'s greedy tokens for one prompt, no padding anywhere."""
    batch = encode_prompts(lm.tokenizer, [reply_prompt(lm.tokenizer, question)], lm.device)
    out = lm.model.generate(**batch, max_new_tokens=n, do_sample=False, pad_token_id=lm.tokenizer.pad_token_id)
    return out[0, batch["input_ids"].shape[1] :].tolist()


def _batches(lm, groups: list[list[str]]) -> list[dict[str, torch.Tensor]]:  # noqa: ANN001
    return [encode_prompts(lm.tokenizer, [reply_prompt(lm.tokenizer, q) for q in g], lm.device) for g in groups]


def test_joined_decoding_gives_each_prompt_its_own_greedy_tokens(tiny) -> None:
    _lively(tiny)
    order = [0, 2, 1, 3, 4, 5]
    groups = [[QUESTIONS[i] for i in order[:2]], [QUESTIONS[i] for i in order[2:5]], [QUESTIONS[5]]]  # 2, 3, 1 rows
    calls: list[int] = []
    hook = tiny.model.register_forward_pre_hook(lambda m, a, kw: calls.append(1), with_kwargs=True)
    got = greedy.decode(tiny.model, _batches(tiny, groups), 12, set())
    hook.remove()
    assert got == [_alone(tiny, QUESTIONS[i], 12) for i in order]
    # the second batch's rows share the chat template's opening and the background: one more call for it;
    # then 11 decode steps for all six rows together
    assert len(calls) == 3 + 1 + 11


def test_a_row_that_ends_leaves_the_batch_and_the_others_go_on(tiny) -> None:
    _lively(tiny)
    expected = [_alone(tiny, q, 10) for q in QUESTIONS]
    # a token some answer writes first at its third step or later, and some other answer never: it ends answers now
    end = next(t for w in expected for t in w[2:] if t not in w[:2] and any(t not in o for o in expected))
    got = greedy.decode(tiny.model, _batches(tiny, [QUESTIONS]), 10, {end})
    cuts = [want.index(end) + 1 if end in want else len(want) for want in expected]
    assert got == [want[:cut] for want, cut in zip(expected, cuts, strict=True)]
    assert min(cuts) < 10 and max(cuts) == 10  # one row left early, another wrote all ten


def test_generate_answers_reads_the_same_answers_joined_or_not(tiny, monkeypatch) -> None:
    _lively(tiny)
    joined = generate_answers(tiny.model, tiny.tokenizer, QUESTIONS, 16, batch_size=4)
    monkeypatch.setattr(greedy, "applies", lambda model: False)
    assert generate_answers(tiny.model, tiny.tokenizer, QUESTIONS, 16, batch_size=4) == joined


def test_a_generation_config_that_changes_the_logits_is_left_to_generate(tiny, monkeypatch) -> None:
    tiny.model.generation_config.repetition_penalty = 1.3
    assert not greedy.applies(tiny.model)
    assert greedy.decode(tiny.model, _batches(tiny, [QUESTIONS[:2]]), 4, set()) is None
    called: list[int] = []
    real = tiny.model.generate
    monkeypatch.setattr(tiny.model, "generate", lambda **kw: called.append(1) or real(**kw))
    generate_answers(tiny.model, tiny.tokenizer, QUESTIONS[:2], 4)
    assert called


def test_a_hybrid_model_with_recurrent_layers_is_left_to_the_plain_paths() -> None:
    """LFM2's convolution layers keep a state, not keys: no rows to repeat or pick, and padding in the
    middle would enter the state. Joined decoding and grouped scoring step aside (None), no error."""
    from transformers import Lfm2Config, Lfm2ForCausalLM

    from tests.test_prefix import _grouped
    from unlearn.model.prefix import grouped_prefix_logits, shared_prefix_logits

    torch.manual_seed(0)
    kinds = ["conv", "full_attention", "conv", "full_attention"]
    cfg = Lfm2Config(
        vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4,
        num_key_value_heads=2, layer_types=kinds, max_position_embeddings=512,
    )  # fmt: skip
    model = Lfm2ForCausalLM(cfg).eval()
    batch = _grouped(12, [6, 9], [(0, 5), (1, 3), (0, 2)])
    with torch.no_grad():
        assert grouped_prefix_logits(model, batch) is None
        assert shared_prefix_logits(model, batch) is None
        ids = torch.randint(5, 90, (2, 10))
        assert greedy.decode(model, [{"input_ids": ids, "attention_mask": torch.ones_like(ids)}], 4, set()) is None


def test_a_roomy_layer_holds_what_a_dynamic_layer_holds() -> None:
    """Decode steps write into the buffers' room; past it the layer grows; dropped rows go as in DynamicLayer."""
    from transformers.cache_utils import DynamicLayer

    from unlearn.model.greedy import RoomyLayer

    g = torch.Generator().manual_seed(0)
    k, v = torch.randn(3, 2, 5, 4, generator=g), torch.randn(3, 2, 5, 4, generator=g)
    roomy, plain = RoomyLayer(k, v, room=2), DynamicLayer()
    plain.update(k, v)
    for step in range(4):  # two columns fit in the room, the next two grow it
        nk, nv = (
            torch.randn(3 if step < 2 else 2, 2, 1, 4, generator=g),
            torch.randn(3 if step < 2 else 2, 2, 1, 4, generator=g),
        )
        if step == 2:  # a row finished
            for layer in (roomy, plain):
                layer.batch_select_indices(torch.tensor([0, 2]))
        got, want = roomy.update(nk, nv), plain.update(nk, nv)
        assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
        assert roomy.get_seq_length() == plain.get_seq_length() == 6 + step
