"""The project's loop against a bare PyTorch loop doing the same work on the same batches (`bench`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from unlearn.data.batching import Batch, encode_batch
from unlearn.data.examples import Example
from unlearn.data.prompts import IGNORE
from unlearn.model.kernels import EAGER, kernel_of
from unlearn.model.models import LoadedModel
from unlearn.model.packing import attention_share, packable, worth_packing
from unlearn.model.prefix import shared_columns
from unlearn.tools.flops import steps_per_second, sync_device
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import cycle_batches
from unlearn.train.methods import config_for
from unlearn.train.params import make_trainable

if TYPE_CHECKING:
    from unlearn.tools.bench_setup import DemoData


def encoded_pairs(lm: LoadedModel, data: DemoData, spec: RunSpec, n: int) -> list[tuple[Batch, Batch]]:
    """The first `n` (forget, retain) batches `run_unlearning` trains on, encoded as it encodes them
    (same shuffling seeds, same padding), so both loops see identical tensors."""
    loop = spec.loop_config()
    forget = cycle_batches(data.forget, loop.batch_size, loop.seed)
    retain = cycle_batches(data.retain_train, loop.batch_size, loop.seed + 1)

    def enc(items: list[Example]) -> Batch:
        return encode_batch(items, lm.tokenizer, loop.max_length, lm.device)

    return [(enc(next(forget)), enc(next(retain))) for _ in range(n)]


def bare_forward(model: torch.nn.Module, b: Batch, share: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B, W, V) over the batch's answer window and its labels (B, W), written out by hand with
    the project's savings: the head on the window only (forward.py), the rows' shared opening once
    (prefix.py), and the rows end to end without their padding where the project packs them (packing.py,
    whose decision is taken from it; `share` is `attention_share(model)`)."""
    device = b["input_ids"].device
    cols = (b["labels"] != IGNORE).any(0).nonzero().flatten()
    keep = torch.arange(max(int(cols[0]) - 1, 0), int(cols[-1]) + 1, device=device)  # (W,)
    ids, mask = b["input_ids"], b["attention_mask"]
    p = shared_columns(b)
    rows, columns = ids.shape
    if packable(model, columns) and worth_packing(share, rows, columns, p, int((mask.sum(1) - p).sum())):
        return _bare_packed(model, b, p, keep), b["labels"][:, keep]
    if not p:
        return model(input_ids=ids, attention_mask=mask, logits_to_keep=keep).logits, b["labels"][:, keep]
    cache = model(input_ids=ids[:1, :p], use_cache=True, logits_to_keep=1).past_key_values
    cache.batch_repeat_interleave(rows)
    pos = torch.arange(p, columns, device=device).expand(rows, -1)
    out = model(
        input_ids=ids[:, p:], attention_mask=mask, position_ids=pos, past_key_values=cache, logits_to_keep=keep - p
    )
    return out.logits, b["labels"][:, keep]  # (B, W, V), (B, W)


def _bare_packed(model: torch.nn.Module, b: Batch, p: int, keep: torch.Tensor) -> torch.Tensor:
    """The window's logits (B, W, V) from the opening and then the rows' own tokens laid end to end."""
    ids, lengths = b["input_ids"], b["attention_mask"].sum(1)
    rows, columns = ids.shape
    device = ids.device
    own = torch.arange(columns, device=device) < lengths[:, None]  # (B, T)
    own[:, :p] = False
    opening = torch.arange(p, device=device)
    pos = torch.cat([opening, torch.arange(columns, device=device).expand(rows, -1)[own]])  # (L,) L = P + N
    row = torch.arange(rows, device=device)[:, None].expand(-1, columns)[own]
    row = torch.cat([torch.full_like(opening, -1), row])  # (L,) the row a token came from, -1: the opening
    sees = (row[:, None] == row[None]) | (row[None] == -1)  # (L, L) its own row, and the opening
    sees = (sees & (pos[None] <= pos[:, None]))[None, None]  # causal within each
    if kernel_of(model) == EAGER:  # the eager kernel adds its mask to the scores
        dtype = next(model.parameters()).dtype
        sees = torch.zeros(sees.shape, dtype=dtype, device=device).masked_fill(~sees, torch.finfo(dtype).min)
    start = p + torch.cumsum(lengths - p, 0) - (lengths - p)  # (B,) each row's first packed token
    # window column c of row r is packed token start[r] + c - p (a column past the row's end, whose
    # label is padding, reads the row's last token)
    at = start[:, None] + torch.minimum(keep[None], lengths[:, None] - 1) - p  # (B, W)
    out = model(
        input_ids=torch.cat([ids[0, :p], ids[own]])[None], attention_mask=sees, position_ids=pos[None],
        use_cache=False, logits_to_keep=at.flatten(),
    )  # fmt: skip
    return out.logits.view(rows, len(keep), -1)  # (B, W, V)


def bare_loop(
    model: torch.nn.Module,
    params: list[torch.nn.Parameter],
    pairs: list[tuple[Batch, Batch]],
    lr: float,
    max_grad_norm: float,
    beta: float,
    gamma: float,
    alpha: float,
) -> list[float]:
    """NPO + retain NLL on LoRA params with AdamW, written out by hand; returns a clock reading
    after each step. B batch, W answer-window columns, V vocabulary. The reference log-probabilities
    of every forget batch are computed before the first step, as the project's run takes them from its
    before-measurement, so a step does the same work as the project's."""
    device = params[0].device
    share = attention_share(model)  # for the project's packing decision (packing.py)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    # bf16 autocast on CUDA, as the project loop does, so both do the same arithmetic
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")

    def seq_nll(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = logits[:, :-1].float()  # (B, W-1, V): position t predicts token t+1
        target = labels[:, 1:]  # (B, W-1), IGNORE off the answer
        nll = F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=IGNORE, reduction="none")
        return nll.view(target.shape).sum(1)  # (B,)

    with torch.no_grad(), autocast:  # the reference π_θ₀ is the same model with its adapters off
        model.disable_adapters()
        refs = [-seq_nll(*bare_forward(model, fb, share)) for fb, _ in pairs]  # (B,) per forget batch
        model.enable_adapters()
    stamps = []
    for (fb, rb), ref_logp in zip(pairs, refs, strict=True):
        with autocast:
            logp = -seq_nll(*bare_forward(model, fb, share))  # (B,) log π_θ(y|x)
            npo = (-(2.0 / beta) * F.logsigmoid(-beta * (logp - ref_logp))).mean()  # ()
            n_answer = (rb["labels"][:, 1:] != IGNORE).sum().clamp(min=1)
            retain = seq_nll(*bare_forward(model, rb, share)).sum() / n_answer  # () mean token NLL
            loss = gamma * npo + alpha * retain
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync_device(device)
        stamps.append(time.perf_counter())
    return stamps


def time_project_loop(lm: LoadedModel, data: DemoData, spec: RunSpec, warmup: int) -> float:
    """Steps/s of `run_unlearning` (eval_every=0), timed between steps so the before/after
    scoring it also does is left out; the adapter is removed afterwards."""
    stamps: list[float] = []

    def on_step(_: Any) -> None:
        sync_device(lm.device)
        stamps.append(time.perf_counter())

    # the retain eval items are only scored before and after, never timed: skip them
    out = run_unlearning(lm, spec, data.forget, data.retain_train, [], on_step=on_step)
    out.trainable.reset()
    return steps_per_second(stamps, warmup)


def time_bare_loop(lm: LoadedModel, spec: RunSpec, pairs: list[tuple[Batch, Batch]], warmup: int) -> float:
    """Steps/s of `bare_loop` on the same LoRA adapter the project adds, with the same hyperparameters."""
    trainable = make_trainable(lm.model, spec.mode, None, spec.lora_r)
    hp = config_for(spec.method, spec.preset, **spec.hparams)
    loop = spec.loop_config()
    try:
        stamps = bare_loop(lm.model, trainable.params, pairs, loop.lr, loop.max_grad_norm, hp.beta, hp.gamma, hp.alpha)
    finally:
        trainable.reset()
    return steps_per_second(stamps, warmup)
