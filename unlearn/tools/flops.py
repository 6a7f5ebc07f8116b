"""Counting and timing what a step computes: FLOPs per step, the machine's matmul peak, steps per second.

Shared by `bench` (the bundled model on this machine) and `bench --gpu` (the benchmark shapes).
"""

from __future__ import annotations

import time

import torch

from unlearn.model.forward import answer_rows, answer_window
from unlearn.model.prefix import shared_columns

Batch = dict[str, torch.Tensor]


def sync_device(device: torch.device) -> None:
    # CUDA runs asynchronously: a clock read without a sync times the launch, not the work
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def steps_per_second(stamps: list[float], warmup: int) -> float:
    """Steps/s over the stamps after the warm-up (stamp i is taken when step i+1 ends)."""
    timed = len(stamps) - warmup
    return timed / (stamps[-1] - stamps[warmup - 1])


def matmul_params(model: torch.nn.Module) -> tuple[int, int]:
    """(body, head): weights taking part in a matmul per token in the transformer body, and in the
    output head. The input embedding is a lookup (no FLOPs); the head is a matmul, counted even when
    tied to the embedding. LoRA weights are counted apart (`step_flops`)."""
    emb = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    head_w = head.weight if head is not None else emb
    # named_parameters() yields a tied tensor once
    body = sum(p.numel() for name, p in model.named_parameters() if "lora_" not in name)
    body -= emb.numel() + (head_w.numel() if head_w is not emb else 0)
    return body, head_w.numel()


def step_flops(
    forget: Batch,
    retain: Batch,
    n_body: int,
    n_head: int,
    n_lora: int,
    body_trained: bool = False,
    head_trained: bool = False,
    reference_pass: bool = True,
) -> float:
    """Training FLOPs of one NPO + retain step, counting real (non-pad) tokens only.

    Per token, a forward matmul costs 2 FLOPs per weight. With N the body's weights, L the LoRA
    weights and H the head's (applied only to each row's answer span, forward.py):
      - forget pass, adapters on, with gradients: forward 2(N+L); backward through the frozen
        weights still computes activation gradients, 2N, and through LoRA both activation and weight
        gradients, 4L: 4N + 6L per token, and 4H per answer-span row (the head is frozen);
      - reference pass on the forget batch, adapters off, no gradients: 2N per token, 2H per row (not
        when the run reads the reference from its before-measurement: `reference_pass=False`);
      - retain pass, adapters on, with gradients: as the forget pass.
    A full run trains the body's weights (`body_trained`), and an untied head may be trained too
    (`head_trained`): their backward adds the weight gradients, 2 more FLOPs per weight (6 in all).
    Rows that open alike run their shared opening once (prefix.py), so its tokens count once.
    Attention scores (4·T·d per token per layer) and the norms are left out: at these lengths they
    are a few percent, so the share of peak is slightly understated, never flattered.
    """

    def tokens(b: Batch) -> tuple[float, float]:
        # the head runs on each row's own answer span, padded to the longest (forward.answer_rows)
        take, _ = answer_rows(b["labels"][:, answer_window(b["labels"])])
        # a shared opening runs once, not once per row (prefix.py): only the tokens computed count
        computed = float(b["attention_mask"].sum()) - (len(b["labels"]) - 1) * shared_columns(b)
        return computed, float(take.numel())

    (tf, hf), (tr, hr) = tokens(forget), tokens(retain)
    train_tok = (6 if body_trained else 4) * n_body + 6 * n_lora
    train_row = (6 if head_trained else 4) * n_head
    ref_tok, ref_row = (2 * n_body, 2 * n_head) if reference_pass else (0, 0)
    return tf * (train_tok + ref_tok) + hf * (train_row + ref_row) + tr * train_tok + hr * train_row


def peak_matmul_flops(device: torch.device, n: int, seconds: float) -> float:
    """FLOP/s of back-to-back n×n matmuls in the dtype training runs in (fp32 on CPU, bf16 on
    CUDA): the best this machine does on the operation that dominates a transformer. The first third
    of `seconds` is untimed: an idle GPU clocks down, and a peak taken while it clocks up would
    flatter every share of it."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    c = torch.empty(n, n, device=device, dtype=dtype)

    def run(budget: float) -> float:
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < budget:
            for _ in range(8 if device.type == "cuda" else 1):
                torch.matmul(a, b, out=c)
                count += 1
            sync_device(device)
        return 2.0 * n**3 * count / (time.perf_counter() - t0)

    run(seconds / 3)  # warm-up: clocks, thread pool, cuBLAS handle
    return run(seconds * 2 / 3)
