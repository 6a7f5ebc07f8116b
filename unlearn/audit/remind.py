"""REMIND: residual memorisation in input loss landscapes (arXiv 2511.04228), as arrays.

An example that was truly unlearned sits on a flat plateau of the loss over small variations of its
input; a memorised (or retained) one sits in a sharper basin. For each example:

1. Neighbourhood (embedding-proximity perturbation): each question token is replaced, with
   probability p, by its j-th nearest token by cosine similarity of the model's input embeddings,
   j ~ U(1, m). The answer is kept; the loss is measured on the answer tokens.
2. Landscape: K neighbours at each perturbation strength p of a sweep (the default neighbourhood,
   p = 0.3, is one of them), around the loss of the example itself.
3. The 15 features of `FEATURES`, computed from those losses.

Replacing tokens keeps a sequence's length, so the neighbours of one example stack into one
(J·K, T) batch with no padding: a landscape costs a few batched forwards, not hundreds of single ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.mia import TokenStats, logit_stats
from unlearn.data.examples import Example
from unlearn.data.prompts import Encoded, encode, question_mask
from unlearn.errors import UserError
from unlearn.model.cpu_streams import batch_size_for, stream_map
from unlearn.model.span_forward import scoring_logits
from unlearn.settings import setting
from unlearn.train.losses import sequence_nll

FEATURES = [
    "loss",  # the example's own answer loss
    "neighbour_mean",
    "neighbour_max",
    "neighbour_min",
    "neighbour_var",
    "neighbour_std",
    "increment_mean",  # Δ_k = L(x̃_k) − L(x) at the default strength
    "increment_max",
    "increment_min",
    "increment_var",
    "gradient_mean",  # Δ_k per unit of perturbation (the share of question tokens replaced), over the
    # neighbours in which a token was replaced
    "gradient_max",
    "gradient_var",
    "volatility",  # std of the successive differences of the mean loss along the strength sweep
    "curvature",  # second difference of the 1-D landscape at p = 0
]


@dataclass
class RemindConfig:
    p: float = setting(0.3, "Replacement probability p", "each token's chance of being replaced", lo=0.2, hi=0.5)
    m: int = setting(20, "Nearest tokens to pick from (m)", "a token is replaced by one of its m nearest", lo=1, hi=50)
    k: int = setting(
        15, "REMIND neighbours per strength (K)", "perturbed copies of each item per strength", lo=2, hi=40,
        flag="--neighbours",
    )  # fmt: skip
    strengths: tuple[float, ...] = (0.1, 0.2, 0.3)  # the sweep; evenly spaced from 0 (curvature) and holding p
    seed: int = 0
    batch_size: int = 32  # sequences per forward

    def check(self) -> None:
        if not 0 < self.p <= 1 or self.p not in self.strengths:
            raise UserError(f"p must be in (0, 1] and one of the strengths {self.strengths}")
        if self.m < 1 or self.k < 1 or len(self.strengths) < 2:
            raise UserError("m and k must be at least 1, and the sweep needs at least two strengths")
        steps = np.diff((0.0, *self.strengths))
        if not np.allclose(steps, steps[0]):
            raise UserError(f"strengths must be evenly spaced from 0 (e.g. 0.1, 0.2, 0.3), not {self.strengths}")


@dataclass
class Landscape:
    """Losses around each example. N examples, J strengths, K neighbours."""

    loss: np.ndarray  # (N,) the example's own answer loss
    strengths: np.ndarray  # (J,)
    neighbours: np.ndarray  # (N, J, K) losses of the perturbed examples
    replaced: np.ndarray  # (N, J, K) share of question tokens actually replaced
    # each example's own token statistics (mia.py), read from the forward that gave `loss`: the audit's
    # LOSS / zlib / Min-K% / Min-K%++ and TOFU figures take them from here instead of a forward of their own
    stats: list[TokenStats] = field(default_factory=list)

    def features(self, p: float) -> np.ndarray:
        """(N, 15) in the order of `FEATURES`, the neighbourhood statistics read at strength p."""
        j = int(np.argmin(np.abs(self.strengths - p)))
        nb = self.neighbours[:, j]  # (N, K)
        inc = nb - self.loss[:, None]  # (N, K)
        grad = _gradients(inc, self.replaced[:, j])  # (N, 3): mean, max, var over the neighbours that moved
        curve = np.concatenate([self.loss[:, None], self.neighbours.mean(-1)], 1)  # (N, J+1), from p = 0
        h = float(self.strengths[0])
        return np.stack(
            [
                self.loss,
                nb.mean(1),
                nb.max(1),
                nb.min(1),
                nb.var(1),
                nb.std(1),
                inc.mean(1),
                inc.max(1),
                inc.min(1),
                inc.var(1),
                grad[:, 0],
                grad[:, 1],
                grad[:, 2],
                np.diff(curve, axis=1).std(1),
                (curve[:, 2] - 2 * curve[:, 1] + curve[:, 0]) / h**2,
            ],
            1,
        )


def _gradients(inc: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Mean, max and variance of Δ_k / share_k over the neighbours in which a token was replaced
    (N, 3). A neighbour with nothing replaced is the item itself: its Δ is loss noise (batched
    arithmetic), and dividing it by a vanishing share would turn that noise into the largest
    "gradient" of the landscape. Items with no such neighbour get 0."""
    moved = share > 0  # (N, K)
    g = np.where(moved, inc / np.where(moved, share, 1.0), 0.0)  # (N, K)
    n = moved.sum(1)  # (N,)
    safe = np.maximum(n, 1)
    mean = g.sum(1) / safe
    top = np.where(moved, g, -np.inf).max(1)
    var = (np.where(moved, g - mean[:, None], 0.0) ** 2).sum(1) / safe
    return np.stack([mean, np.where(n > 0, top, 0.0), var], 1)


def nearest_tokens(embeddings: torch.Tensor, ids: Sequence[int], m: int) -> dict[int, np.ndarray]:
    """For each token id, its m nearest other tokens by cosine similarity of input embeddings."""
    uniq = sorted(set(int(i) for i in ids))
    e = torch.nn.functional.normalize(embeddings.detach().float(), dim=-1)  # (V, d)
    sims = e[uniq] @ e.T  # (U, V)
    sims[torch.arange(len(uniq)), torch.tensor(uniq)] = -2.0  # never the token itself
    top = sims.topk(m, -1).indices.cpu().numpy()  # (U, m)
    return dict(zip(uniq, top, strict=True))


def perturb(
    ids: np.ndarray, positions: np.ndarray, p: float, near: dict[int, np.ndarray], rng: np.random.Generator
) -> tuple[np.ndarray, float]:
    """One neighbour: each of `positions` replaced with probability p by a random one of its nearest
    tokens. Returns the new ids and the share of `positions` replaced."""
    out = ids.copy()
    hit = positions[rng.random(len(positions)) < p]
    for i in hit:
        choices = near[int(ids[i])]
        out[i] = choices[rng.integers(len(choices))]
    return out, len(hit) / max(len(positions), 1)


def answer_losses(
    model: PreTrainedModel,
    ids: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    first: list[TokenStats] | None = None,
) -> np.ndarray:
    """Mean answer NLL of each row of an unpadded (B, T) batch, `batch_size` rows per forward. A
    neighbourhood's rows change only question tokens, so they share the chat template's opening (and
    the question up to its first changed token): it runs once per forward (prefix.py). With `first`
    (a list), row 0's token statistics (mia.py) are appended to it, read from the same logits. On a
    CPU two forwards run side by side (cpu_streams.py), unless this already runs in one of two."""
    size = batch_size_for(len(ids), batch_size, ids.device)

    @torch.inference_mode()  # in the thread that runs it: grad mode is per thread
    def losses(i: int) -> tuple[np.ndarray, list[TokenStats]]:
        rows = slice(i, i + size)
        batch = {"input_ids": ids[rows], "labels": labels[rows], "attention_mask": torch.ones_like(ids[rows])}
        logits, kept = scoring_logits(model, batch)
        total, count = sequence_nll(logits, kept)
        stats = logit_stats(logits[:1], kept[:1]) if first is not None and i == 0 else []
        return (total / count).float().cpu().numpy(), stats

    out = []
    for values, stats in stream_map(losses, range(0, len(ids), size), ids.device):
        out.append(values)
        if first is not None:
            first += stats
    return np.concatenate(out)


def perturbable(tokenizer: PreTrainedTokenizerBase, ex: Example, enc: Encoded) -> np.ndarray:
    """The positions a neighbour may change: the question's own tokens (not the chat template's)."""
    if not ex.is_qa:  # a passage has no question: perturb its first half, score all of it
        return np.arange(1, max(2, len(enc.input_ids) // 2))
    n_prompt = len(enc.input_ids) - enc.n_answer_tokens
    return np.flatnonzero(question_mask(tokenizer, enc.input_ids[:n_prompt]))


@dataclass
class Neighbourhood:
    """One example's own sequence (row 0) and its J·K neighbours, all of one length."""

    rows: np.ndarray  # (1 + J·K, T) token ids
    labels: list[int]  # (T,) the answer labels, shared by every row
    replaced: np.ndarray  # (J, K) share of question tokens replaced in each neighbour


def neighbourhoods(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    cfg: RemindConfig,
    max_length: int = 256,
) -> list[Neighbourhood]:
    """The perturbed sequences of every example (no model forward: embeddings only)."""
    cfg.check()
    rng = np.random.default_rng(cfg.seed)
    encs = [encode(tokenizer, ex, max_length) for ex in examples]
    positions = [perturbable(tokenizer, ex, enc) for ex, enc in zip(examples, encs, strict=True)]
    used = [e.input_ids[i] for e, pos in zip(encs, positions, strict=True) for i in pos]
    near = nearest_tokens(model.get_input_embeddings().weight, used, cfg.m)
    out = []
    for enc, pos in zip(encs, positions, strict=True):
        ids = np.asarray(enc.input_ids)
        rows, shares = [ids], []
        for p in cfg.strengths:
            for _ in range(cfg.k):
                row, share = perturb(ids, pos, p, near, rng)
                rows.append(row)
                shares.append(share)
        out.append(Neighbourhood(np.stack(rows), enc.labels, np.reshape(shares, (len(cfg.strengths), cfg.k))))
    return out


def landscape(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    cfg: RemindConfig,
    max_length: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> Landscape:
    """The losses of every example and of its J·K neighbours; one stacked batch per example."""
    device = next(model.parameters()).device
    hoods = neighbourhoods(model, tokenizer, examples, cfg, max_length)
    own = np.zeros(len(hoods))
    losses = np.zeros((len(hoods), len(cfg.strengths), cfg.k))
    stats: list[TokenStats] = []

    def hood_losses(h: Neighbourhood) -> tuple[np.ndarray, list[TokenStats]]:
        stack = torch.tensor(h.rows, device=device)  # (1 + J·K, T)
        labels = torch.tensor([h.labels], device=device).expand(len(h.rows), -1)
        first: list[TokenStats] = []
        return answer_losses(model, stack, labels, cfg.batch_size, first=first), first

    # on a CPU two neighbourhoods run side by side (cpu_streams.py); results and progress come in order
    for i, (values, first) in enumerate(stream_map(hood_losses, hoods, device)):
        stats += first
        own[i], losses[i] = values[0], values[1:].reshape(losses.shape[1:])
        if progress:
            progress(i + 1, len(hoods))
    return Landscape(own, np.asarray(cfg.strengths), losses, np.stack([h.replaced for h in hoods]), stats)
