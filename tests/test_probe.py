"""The probe's arrays agree with the model's own numbers and leave the model as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.inspection import probe as probe_module
from unlearn.inspection.probe import probe, rollout
from unlearn.model.models import LoadedModel
from unlearn.model.scoring import answer_nll

EX = Example("Who wrote the red book?", "Anna Berg wrote it.")


def test_probe_matches_the_model_and_leaves_it_untouched(tiny: LoadedModel) -> None:
    before = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    p = probe(tiny.model, tiny.tokenizer, EX, k=3)
    t = len(p.tokens)
    n_layers = tiny.model.config.num_hidden_layers
    assert p.attentions.shape == (n_layers, tiny.model.config.num_attention_heads, t, t)
    np.testing.assert_allclose(p.attentions.astype(np.float32).sum(-1), 1.0, rtol=2e-3)  # rows sum to 1 (float16)
    assert p.kv_heads == tiny.model.config.num_key_value_heads
    # the answer's mean log-probability is what scoring measures
    answer_mean = -p.gold_logprob[p.answer_start :].mean()
    np.testing.assert_allclose(answer_mean, answer_nll(tiny.model, tiny.tokenizer, [EX])[0], rtol=1e-5)
    # the last layer of the lens is the model's own output distribution, read where an answer token is next
    pos = p.answer_positions
    assert pos[0] == p.answer_start - 1 and pos[-1] == t - 2
    np.testing.assert_allclose(np.log(p.lens_prob[-1, pos]), p.gold_logprob[pos + 1], rtol=1e-4, atol=1e-5)
    assert (p.lens_rank[:, pos] >= 0).all() and (p.lens_rank[:, : pos[0]] == -1).all()
    assert np.isnan(p.lens_prob[:, -1]).all()
    assert p.top_probs.shape == (t, 3) and (np.diff(p.top_probs, axis=1) <= 0).all()
    assert not p.truncated
    for n, w in tiny.model.named_parameters():
        assert torch.equal(w, before[n]) and w.grad is None


# rows: 7 makes many chunks, with golds in all of them; 1024 one. called: the head as Accelerate's device
# "split" leaves it (a hook that moves or loads its weight when called), so it is called, not multiplied
@pytest.mark.parametrize(("rows", "called"), [(7, False), (1024, False), (7, True), (1024, True)])
def test_logit_lens_agrees_with_each_layer_read_whole(
    tiny: LoadedModel, monkeypatch: pytest.MonkeyPatch, rows: int, called: bool
) -> None:
    """The chunked lens against the plain definition (nostalgebraist 2020, "interpreting GPT: the
    logit lens"): layer l's output through the final norm and the head, all words at once; the rank
    is how many words have a strictly larger logit than the next token's, the probability its softmax."""
    monkeypatch.setattr(probe_module, "LENS_ROWS", rows)
    calls = []
    tiny.model.lm_head.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    if called:
        tiny.model.lm_head._hf_hook = object()  # what `_lens` looks for; the module itself computes as before
    p = probe(tiny.model, tiny.tokenizer, EX)
    head_calls = len(calls)
    model = tiny.model
    ids = torch.tensor([p.token_ids], device=model.device)
    with torch.no_grad():
        hs = model(input_ids=ids, output_hidden_states=True).hidden_states[1:]
        pos = p.answer_positions
        for layer, h in enumerate(hs):
            h = h[0] if layer == len(hs) - 1 else model.model.norm(h[0])  # HF norms the last one already
            logits = model.lm_head(h).double()  # (T, V)
            for q in pos:
                gold = logits[q, p.token_ids[q + 1]]
                assert p.lens_rank[layer, q] == int((logits[q] > gold).sum())
                want = float(torch.softmax(logits[q], -1)[p.token_ids[q + 1]])
                np.testing.assert_allclose(p.lens_prob[layer, q], want, rtol=1e-4)
    assert (head_calls > 1) == called  # the probe's forward calls the head once, the lens only when it must


def test_a_long_prompt_is_cut_and_says_so(tiny: LoadedModel) -> None:
    long = Example("word " * 300 + "?", "Yes.")
    p = probe(tiny.model, tiny.tokenizer, long, max_tokens=32)
    assert p.truncated and len(p.tokens) == 32
    batch = collate([encode(tiny.tokenizer, long, 32)], tiny.tokenizer.pad_token_id)
    assert batch["input_ids"].shape[1] == 32


def test_rollout_rows_are_distributions_and_identity_attention_gives_identity() -> None:
    t = 5
    att = np.broadcast_to(np.eye(t), (3, 2, t, t)).copy()
    np.testing.assert_allclose(rollout(att), np.eye(t))
    rng = np.random.default_rng(0)
    a = rng.random((4, 3, t, t)) * np.tril(np.ones((t, t)))
    r = rollout(a / a.sum(-1, keepdims=True))
    np.testing.assert_allclose(r.sum(-1), 1.0)
    assert np.allclose(np.triu(r, 1), 0)  # causal attention rolls out causal
    # one layer by hand: half the mean head plus half the identity
    one = a[:1] / a[:1].sum(-1, keepdims=True)
    np.testing.assert_allclose(rollout(one), 0.5 * one[0].mean(0) + 0.5 * np.eye(t))
