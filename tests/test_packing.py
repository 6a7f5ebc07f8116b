"""A batch's rows packed end to end without their padding give the padded forward's logits and
gradients (issue 19: the quick demo's steps, figures and live curves), in every model family the
packing is enabled for, and the padded forward runs wherever packing cannot apply or would not pay."""

from __future__ import annotations

import pytest
import torch
import transformers

from tests.test_prefix import _batch, lora_gradients
from unlearn.model import packing
from unlearn.model.forward import answer_logits
from unlearn.model.packing import PACKED_FAMILIES, packed_logits

SMALL = {"vocab_size": 100, "pad_token_id": 0, "max_position_embeddings": 128}
DECODER = {**SMALL, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}
GQA = {**DECODER, "num_key_value_heads": 2}
# one tiny random model per family in PACKED_FAMILIES: a family is enabled only with its check here
CONFIGS = {
    "llama": lambda: transformers.LlamaConfig(**GQA),
    "mistral": lambda: transformers.MistralConfig(**GQA),  # sliding window 4096: wider than any batch here
    "qwen2": lambda: transformers.Qwen2Config(**GQA),
    "qwen3": lambda: transformers.Qwen3Config(**GQA, head_dim=8),
    "phi3": lambda: transformers.Phi3Config(**GQA),
    "gemma": lambda: transformers.GemmaConfig(**GQA, head_dim=8),
    "gemma2": lambda: transformers.Gemma2Config(**GQA, head_dim=8),  # soft-capped scores and logits
    "olmo2": lambda: transformers.Olmo2Config(**GQA),
    "smollm3": lambda: transformers.SmolLM3Config(**GQA),  # every fourth layer without rotary positions
    "gpt2": lambda: transformers.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=4, n_positions=128),
    "gpt_neox": lambda: transformers.GPTNeoXConfig(**DECODER),
    "opt": lambda: transformers.OPTConfig(
        vocab_size=100,
        hidden_size=32,
        ffn_dim=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=128,
        word_embed_proj_dim=32,
    ),
}
KERNELS = {"gemma2": ("eager",)}  # Gemma 2's soft-capped attention has no SDPA path in transformers


def _model(family: str, kernel: str) -> transformers.PreTrainedModel:
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(CONFIGS[family](), attn_implementation=kernel).eval()


def test_every_enabled_family_has_its_check() -> None:
    assert set(CONFIGS) == PACKED_FAMILIES


@pytest.mark.parametrize(
    ("family", "kernel"), [(f, k) for f in sorted(CONFIGS) for k in KERNELS.get(f, ("sdpa", "eager"))]
)
def test_the_packed_row_gives_the_padded_forwards_logits(family: str, kernel: str) -> None:
    model = _model(family, kernel)
    # with a shared opening run once (12 columns), and without one (rows of very different lengths)
    for opening, lengths in ((12, [20, 31, 17, 26]), (0, [6, 31, 5, 8])):
        batch = _batch(opening, lengths, [4, 3, 2, 2])
        with torch.no_grad():
            packed = packed_logits(model, batch)
            padded = answer_logits(model, batch)
        assert packed is not None, (family, kernel, opening)
        torch.testing.assert_close(packed[1], padded[1], rtol=0, atol=0)  # the same labels, the same layout
        torch.testing.assert_close(packed[0], padded[0], rtol=1e-4, atol=1e-5)


def test_a_packed_forward_runs_on_each_rows_own_tokens_only(tiny) -> None:
    batch = {k: v.to(tiny.device) for k, v in _batch(12, [20, 31, 17, 26], [4, 3, 2, 5]).items()}
    seen: list[int] = []
    hook = tiny.model.get_input_embeddings().register_forward_hook(lambda m, a, out: seen.append(out.shape[1]))
    with torch.no_grad():
        assert packed_logits(tiny.model, batch) is not None
    hook.remove()
    # one forward: the opening once at the head of the packed row, then the rows' own tokens, no padding
    assert seen == [12 + (20 - 12) + (31 - 12) + (17 - 12) + (26 - 12)]


def test_training_through_the_packed_row_gives_the_padded_forwards_gradient(tiny) -> None:
    batch = {k: v.to(tiny.device) for k, v in _batch(12, [20, 31, 17, 26], [4, 3, 6, 5], seed=1).items()}
    packed, padded = lora_gradients(tiny, batch, packed_logits, answer_logits)
    for a, b in zip(packed, padded, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_packing_steps_aside_where_it_cannot_apply_or_would_not_pay(tiny) -> None:
    model = tiny.model
    skewed = _batch(12, [20, 31, 17, 26], [4, 3, 6, 5])
    assert packed_logits(model, skewed) is not None
    one = _batch(12, [20], [4])
    even = _batch(12, [24, 24, 24], [4, 3, 6])  # no padding: the packed row would only add attention
    pads = [int((m == 0).sum()) for m in skewed["attention_mask"]]
    left = {k: torch.stack([torch.roll(r, n) for r, n in zip(v, pads, strict=True)]) for k, v in skewed.items()}
    for batch in (one, even, left):
        assert packed_logits(model, batch) is None
    window = _model("mistral", "sdpa")
    window.config.sliding_window = 16  # narrower than the batch: each row would see less than all of itself
    assert packed_logits(window, skewed) is None
    hybrid = transformers.Lfm2ForCausalLM(
        transformers.Lfm2Config(**GQA, layer_types=["conv", "full_attention"])
    ).eval()  # convolution layers carry a state across the row: not a family packing is enabled for
    assert packed_logits(hybrid, skewed) is None


def test_attention_share_follows_the_models_shape() -> None:
    # a layer: q, k, v, o 4 x 32 x 32 (no GQA here) + gate, up, down 3 x 32 x 64 + 2 norms of 32; the
    # final norm's 32 weights are shared out over the 2 layers; the tied embedding is not a layer's
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**DECODER, tie_word_embeddings=True))
    layer = 4 * 32 * 32 + 3 * 32 * 64 + 2 * 32 + 32 / 2
    assert packing.attention_share(model) == pytest.approx(2 * 32 / layer)


def test_the_bench_s_hand_written_loop_packs_as_the_project_does(tiny) -> None:
    """`bench_loop.bare_forward` is the bare loop's forward: the same per-row answer NLL as the
    project's, on a batch the project packs and one it leaves padded (so both loops do the same work)."""
    from unlearn.model.packing import attention_share
    from unlearn.tools.bench_loop import bare_forward
    from unlearn.train.losses import sequence_nll

    share = attention_share(tiny.model)
    skewed = _batch(12, [20, 31, 17, 26], [4, 3, 2, 5])
    even = _batch(12, [24, 24, 24], [4, 3, 6])
    with torch.no_grad():
        for batch, packs in ((skewed, True), (even, False)):
            assert (packed_logits(tiny.model, batch) is not None) == packs
            bare = sequence_nll(*bare_forward(tiny.model, batch, share))
            project = sequence_nll(*answer_logits(tiny.model, batch))
            torch.testing.assert_close(bare[1], project[1], rtol=0, atol=0)  # the same answer tokens
            torch.testing.assert_close(bare[0], project[0], rtol=1e-4, atol=1e-4)
