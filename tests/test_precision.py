"""Full runs on a bf16 model (the CUDA default) train: fp32 master copies of the trained tensors
(issue 17). Shown on the CPU, where bf16 rounds exactly as on a GPU."""

from __future__ import annotations

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.model.models import load_model
from unlearn.train import loop as loop_module
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig

FORGET = [Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]
STEPS, LR = 12, 1e-5  # the paper learning rate: an Adam step of ~1e-5 is below bf16's resolution (6e-5 at 0.02)


def _run(tiny_dir, dtype: torch.dtype) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], str]:
    """(weights before, after, the precision the run reports) of a full GA run from bf16-rounded weights."""
    lm = load_model(str(tiny_dir), device="cpu")
    with torch.no_grad():
        for p in lm.model.parameters():
            p.copy_(p.to(torch.bfloat16).float())  # both runs start from the same, bf16-exact values
    lm.model.to(dtype)
    before = {n: p.detach().float().clone() for n, p in lm.model.named_parameters()}
    spec = RunSpec("ga", mode="full", loop=LoopConfig(lr=LR, steps=STEPS, batch_size=1, max_grad_norm=0))
    out = run_unlearning(lm, spec, FORGET, RETAIN, RETAIN)
    after = {n: p.detach().float().clone() for n, p in lm.model.named_parameters()}
    return before, after, out.metrics["training_precision"]


def agreement(tiny_dir) -> tuple[float, int, str]:
    """Over the elements whose bf16 value the fp32 run changed: the share the bf16 run changed to the
    same bf16 value (and how many there were)."""
    b32, a32, _ = _run(tiny_dir, torch.float32)
    b16, a16, precision = _run(tiny_dir, torch.bfloat16)
    hits = moved = 0
    for n in a32:
        target = a32[n].to(torch.bfloat16).float()
        changed = target != b32[n]
        moved += int(changed.sum())
        hits += int((a16[n] == target)[changed].sum())
    return hits / max(moved, 1), moved, precision


def test_a_bf16_full_run_at_the_paper_learning_rate_moves_as_fp32_does(tiny_dir) -> None:
    share, moved, precision = agreement(tiny_dir)
    assert moved > 1000, "the fp32 run must move enough weights across a bf16 step for the test to mean anything"
    # Tolerance: the bf16 run computes its gradients in bf16, so an element whose gradient is near zero
    # may step the other way, or land on the other side of a rounding boundary; 90% agreeing (measured
    # 0.989 on the tiny model) leaves room for that and none for a run that trains nothing (0).
    assert share >= 0.9, f"only {share:.1%} of the {moved} moved elements agree with the fp32 run"
    assert precision.startswith("fp32 master copies of the bfloat16 trained tensors")


def test_without_master_copies_the_same_run_trains_nothing(tiny_dir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The old path (AdamW on the bf16 tensors themselves) fails the test above: the check can fail."""
    monkeypatch.setattr(loop_module.MasterWeights, "__init__", _no_copies)
    share, moved, precision = agreement(tiny_dir)
    assert share < 0.1 and precision == "trained in bfloat16"


def _no_copies(self, params) -> None:
    self.pairs, self._of = [], {}
