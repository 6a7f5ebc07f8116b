"""One forward per model for every Compare panel: token probabilities, top-k alternatives, the
logit lens and the attention maps, as plain numpy arrays (no torch leaves this module).

The model is left as it was found: no gradients, no state kept, eval mode untouched. "Before" is
the same model inside `trainable.reference()`, so before and after cost one forward each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.errors import UserError
from unlearn.model.forward import accepts_logits_to_keep
from unlearn.model.kernels import eager_attention


@dataclass
class Probe:
    """Position t predicts token t+1. T tokens, L layers, H heads, k alternatives."""

    token_ids: np.ndarray  # (T,)
    tokens: list[str]  # (T,) each token as text
    answer_start: int  # index of the first answer token (T for a prompt alone)
    gold_logprob: np.ndarray  # (T,) log p(x_t | x_<t) at the answer tokens; NaN elsewhere
    top_ids: np.ndarray  # (T, k) the most likely next tokens after position t (answer positions; -1 elsewhere)
    top_probs: np.ndarray  # (T, k); 0 where not read
    top_tokens: list[list[str]]  # (T, k)
    lens_rank: np.ndarray  # (L, T) rank (0 = top) of token t+1 read from layer l; -1 where not read
    lens_prob: np.ndarray  # (L, T) its probability there; NaN where not read
    attentions: np.ndarray  # (L, H, T, T) rows: queries, columns: keys; float16 (they are kept per session)
    kv_heads: int  # key/value heads: query head h reads key/value head h // (H // kv_heads) (GQA)
    truncated: bool  # the prompt was cut from the left to fit max_tokens

    @property
    def answer_positions(self) -> np.ndarray:
        """The positions whose next token is an answer token (where the lens is read)."""
        return np.arange(max(self.answer_start - 1, 0), len(self.tokens) - 1)


def _final_norm(model: PreTrainedModel) -> torch.nn.Module:
    base = getattr(model, "model", None)
    norm = getattr(base, "norm", None)
    if norm is None:
        raise UserError(f"{type(model).__name__} has no final norm at `model.norm`: the logit lens needs one")
    return norm


@torch.no_grad()
def probe(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ex: Example, k: int = 5, max_tokens: int = 256
) -> Probe:
    """Everything the Compare panels show for one item (question + gold answer), from one forward."""
    enc = encode(tokenizer, ex, max_tokens)
    ids = torch.tensor([enc.input_ids], device=next(model.parameters()).device)  # (1, T)
    t = ids.shape[1]
    # every panel reads the positions that predict an answer token: pos = answer_start-1 .. T-2
    answer_start = t - enc.n_answer_tokens if ex.is_qa else 1
    pos = torch.arange(max(answer_start - 1, 0), t - 1)  # (A,)
    # the vocabulary head over those positions only (plus the last, dropped): T x 49,152 logits and
    # their softmax copies were most of the probe's memory
    keep = {"logits_to_keep": len(pos) + 1} if accepts_logits_to_keep(model) else {}
    with eager_attention(model):  # a fused kernel forms no attention matrix to show
        out = model(input_ids=ids, output_hidden_states=True, output_attentions=True, **keep)
    if not out.attentions or out.attentions[0] is None:
        raise UserError("the model returned no attention maps: its architecture has no eager attention")
    logp = torch.log_softmax(out.logits[0, -len(pos) - 1 : -1].float(), -1)  # (A, V)
    nxt = ids[0, 1:]  # (T-1,) the token each position predicts
    want = nxt[pos].unsqueeze(-1)  # (A, 1)
    gold = torch.full((t,), float("nan"))
    gold[pos + 1] = logp.gather(-1, want).squeeze(-1).cpu()
    kk = min(k, logp.shape[-1])
    top = logp.topk(kk, -1)  # log-probabilities are ordered as probabilities are
    top_ids = np.full((t, kk), -1, dtype=np.int64)
    top_probs = np.zeros((t, kk), dtype=np.float32)
    top_ids[pos.numpy()] = top.indices.cpu().numpy()
    top_probs[pos.numpy()] = top.values.exp().cpu().numpy()
    ranks, probs = _lens(model, out.hidden_states[1:], pos, want, t)
    return Probe(
        token_ids=ids[0].cpu().numpy(),
        tokens=[tokenizer.decode([i]) for i in enc.input_ids],
        answer_start=answer_start,
        gold_logprob=gold.numpy(),
        top_ids=top_ids,
        top_probs=top_probs,
        top_tokens=[[tokenizer.decode([j]) if j >= 0 else "" for j in row] for row in top_ids.tolist()],
        lens_rank=ranks,
        lens_prob=probs,
        attentions=torch.stack([a[0] for a in out.attentions]).half().cpu().numpy(),
        kv_heads=int(getattr(model.config, "num_key_value_heads", None) or len(out.attentions[0][0])),
        truncated=enc.truncated,
    )


# vocabulary rows per head matmul in the logit lens. The lens multiplies every (layer, answer position)
# at once by this many rows of the head: a (rows x d) @ (d x L*A) product runs near the machine's matmul
# rate, where a few layers' (c*A x d) @ (d x V) products with c*A ~ 34 rows ran at half of it (probe
# 0.55 s -> 0.27 s on the bundled model, 2026-12-02). 1,024 was the fastest of 512-4,096 there, and
# holds 1,024 x L*A fp32 logits at a time (2 MiB for a 17-token answer, 18 MiB for 150 tokens).
LENS_ROWS = 1024


def _lens(
    model: PreTrainedModel, layers: tuple[torch.Tensor, ...], pos: torch.Tensor, want: torch.Tensor, t: int
) -> tuple[np.ndarray, np.ndarray]:
    """Logit lens: each decoder layer's output through the final norm and the head at positions
    `pos`, read at the token each predicts (`want`, (A, 1)): its rank (0 = top: how many words have
    a strictly larger logit) and probability, as (L, T) arrays (-1 / NaN where not read). HF returns
    the last layer's output already normed, so it is used as it is.

    The head is most of the probe's cost (30 layers x A positions x 49,152 words is ~2.5x the
    model's own forward on the bundled model), so every layer and position goes through it together,
    `LENS_ROWS` words at a time, with a running log-sum-exp and count: the (L*A, V) logits are never
    held at once. Logits are formed in fp32 (a bf16 head's rounding would tie ranks)."""
    norm, head = _final_norm(model), model.get_output_embeddings()
    n_layers, a = len(layers), len(pos)
    ranks = np.full((n_layers, t), -1, dtype=np.int64)
    probs = np.full((n_layers, t), np.nan, dtype=np.float32)
    if a == 0:
        return ranks, probs
    hidden = torch.stack([h[0, pos] for h in layers])  # (L, A, d)
    hidden = torch.cat([norm(hidden[:-1]), hidden[-1:]]).flatten(0, 1)  # (N = L*A, d)
    gold_ids = want[:, 0].repeat(n_layers)  # (N,) the word each column is read at
    # a plain linear head (not a subclass with its own forward, such as a quantized layer's packed weight)
    if (
        type(head).forward is torch.nn.Linear.forward
        and not hasattr(head, "_hf_hook")
        and head.weight.device == hidden.device
    ):
        above, logp = _by_rows(head, hidden.float(), gold_ids)
    else:
        vocab = getattr(head, "out_features", None) or model.config.get_text_config().vocab_size
        above, logp = _by_columns(head, hidden, gold_ids, int(vocab))
    at = pos.numpy()
    ranks[:, at] = above.view(n_layers, a).cpu().numpy()
    probs[:, at] = logp.exp().view(n_layers, a).cpu().numpy()
    return ranks, probs


def _by_rows(head: torch.nn.Linear, hidden: torch.Tensor, gold_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each column of `hidden` (N, d), fp32: how many words have a larger logit than `gold_ids`' word, and
    that word's log-probability, (N,) each, from `LENS_ROWS` of the head's rows at a time."""
    weight, bias = head.weight, head.bias  # (V, d), (V,) or None
    n = len(gold_ids)
    gold = (hidden * weight[gold_ids].float()).sum(-1)  # (N,) the gold word's logit
    if bias is not None:
        gold = gold + bias[gold_ids].float()
    cols = torch.arange(n, device=hidden.device)
    above = torch.zeros(n, dtype=torch.long, device=hidden.device)  # words with a larger logit so far
    top = torch.full((n,), -torch.inf, device=hidden.device)  # running max, for a stable log-sum-exp
    total = torch.zeros(n, device=hidden.device)  # running sum of exp(logit - top)
    for i in range(0, weight.shape[0], LENS_ROWS):
        lg = weight[i : i + LENS_ROWS].float() @ hidden.T  # (rows, N)
        if bias is not None:
            lg += bias[i : i + LENS_ROWS, None].float()
        new_top = torch.maximum(top, lg.amax(0))
        total = total * (top - new_top).exp() + (lg - new_top).exp().sum(0)
        top = new_top
        # the gold word's own entry is this product's rounding of `gold`: set it to `gold` so it never
        # counts as above itself
        here = (gold_ids >= i) & (gold_ids < i + lg.shape[0])
        lg[gold_ids[here] - i, cols[here]] = gold[here]
        above += (lg > gold).sum(0)
    return above, gold - (top + total.log())


def _by_columns(
    head: torch.nn.Module, hidden: torch.Tensor, gold_ids: torch.Tensor, vocab: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """`_by_rows` for a head that must be called as it is: one Accelerate places or loads when called
    (device "split": its weight may sit on another device, or nowhere until then), or not a plain linear
    layer. Whole-vocabulary logits of as many columns at a time as make about LENS_ROWS x N of them."""
    above, logp = [], []
    step = max(1, LENS_ROWS * len(hidden) // vocab)
    for j in range(0, len(hidden), step):
        lg = head(hidden[j : j + step]).float()  # (c, V)
        g = lg.gather(-1, gold_ids[j : j + step, None].to(lg.device))  # (c, 1)
        above.append((lg > g).sum(-1))
        logp.append(g[:, 0] - lg.logsumexp(-1))
    return torch.cat(above), torch.cat(logp)


def rollout(attentions: np.ndarray) -> np.ndarray:
    """Attention rollout (Abnar & Zuidema 2020): how much each token draws on each input token
    through all layers. A_l = rownorm(mean_heads(A_l) + I) (the identity stands for the residual
    path); R = A_L ... A_1. (L, H, T, T) -> (T, T), rows summing to 1."""
    att = attentions.astype(np.float64).mean(1)  # (L, T, T)
    eye = np.eye(att.shape[-1])
    out = eye
    for a in att:
        a = a + eye
        out = (a / a.sum(-1, keepdims=True)) @ out
    return out
