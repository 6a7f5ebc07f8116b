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

from .examples import Example
from .prompts import encode


@dataclass
class Probe:
    """Position t predicts token t+1. T tokens, L layers, H heads, k alternatives."""

    token_ids: np.ndarray  # (T,)
    tokens: list[str]  # (T,) each token as text
    answer_start: int  # index of the first answer token (T for a prompt alone)
    gold_logprob: np.ndarray  # (T,) log p(x_t | x_<t); NaN at t = 0
    top_ids: np.ndarray  # (T, k) the most likely next tokens after position t
    top_probs: np.ndarray  # (T, k)
    top_tokens: list[list[str]]  # (T, k)
    lens_rank: np.ndarray  # (L, T) rank (0 = top) of token t+1 read from layer l; -1 at the last position
    lens_prob: np.ndarray  # (L, T)
    attentions: np.ndarray  # (L, H, T, T) rows: queries, columns: keys
    truncated: bool  # the prompt was cut from the left to fit max_tokens


def _final_norm(model: PreTrainedModel) -> torch.nn.Module:
    base = getattr(model, "model", None)
    norm = getattr(base, "norm", None)
    if norm is None:
        raise ValueError(f"{type(model).__name__} has no final norm at `model.norm`: the logit lens needs one")
    return norm


@torch.no_grad()
def probe(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ex: Example, k: int = 5, max_tokens: int = 256
) -> Probe:
    """Everything the Compare panels show for one item (question + gold answer), from one forward."""
    enc = encode(tokenizer, ex, max_tokens)
    ids = torch.tensor([enc.input_ids], device=next(model.parameters()).device)  # (1, T)
    out = model(input_ids=ids, output_hidden_states=True, output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise ValueError("the model returned no attention maps: load it with eager attention")
    logits = out.logits[0].float()  # (T, V)
    logp = torch.log_softmax(logits, -1)
    t = ids.shape[1]
    nxt = ids[0, 1:]  # (T-1,) the token each position predicts
    gold = torch.full((t,), float("nan"))
    gold[1:] = logp[:-1].gather(-1, nxt.unsqueeze(-1)).squeeze(-1).cpu()
    top = logp.exp().topk(min(k, logp.shape[-1]), -1)
    # logit lens: each decoder layer's output through the final norm and the head. HF returns the
    # last layer's output already normed, so it is used as it is; one layer at a time (L x T x V
    # at once would be 30 x 64 x 49,152 floats for the bundled model)
    norm, head = _final_norm(model), model.get_output_embeddings()
    layers = out.hidden_states[1:]
    ranks = np.full((len(layers), t), -1, dtype=np.int64)
    probs = np.zeros((len(layers), t), dtype=np.float32)
    for i, h in enumerate(layers):
        h = h[0] if i == len(layers) - 1 else norm(h)[0]  # (T, d)
        lg = head(h).float()[:-1]  # (T-1, V)
        g = lg.gather(-1, nxt.unsqueeze(-1))  # (T-1, 1)
        ranks[i, :-1] = (lg > g).sum(-1).cpu().numpy()
        probs[i, :-1] = torch.softmax(lg, -1).gather(-1, nxt.unsqueeze(-1)).squeeze(-1).cpu().numpy()
    n_answer = enc.n_answer_tokens
    return Probe(
        token_ids=ids[0].cpu().numpy(),
        tokens=[tokenizer.decode([i]) for i in enc.input_ids],
        answer_start=t - n_answer if ex.is_qa else 1,
        gold_logprob=gold.numpy(),
        top_ids=top.indices.cpu().numpy(),
        top_probs=top.values.cpu().numpy(),
        top_tokens=[[tokenizer.decode([j]) for j in row] for row in top.indices.tolist()],
        lens_rank=ranks,
        lens_prob=probs,
        attentions=torch.stack([a[0] for a in out.attentions]).float().cpu().numpy(),
        truncated=enc.truncated,
    )
