"""A LoRA layer fused into one autograd step (unlearn/model/fused_lora.py) gives PEFT's outputs and
gradients, runs wherever PEFT's plain case applies, and steps aside everywhere else (issue 19: the
quick demo's training steps and its scoring with the adapters on)."""

from __future__ import annotations

import pytest
import torch
import transformers
from peft import LoraConfig
from peft.tuners.lora.layer import Linear as LoraLinear

from tests.test_packing import _model
from unlearn.model import fused_lora
from unlearn.train.params import ADAPTER, LoraTrainable, make_trainable


def _moved(tr: LoraTrainable) -> None:
    """Adapters off their B = 0 start, which would zero A's gradients and the LoRA product."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.1)


def _logits_and_grads(model: transformers.PreTrainedModel, tr: LoraTrainable, ids: torch.Tensor):  # noqa: ANN202
    logits = model(input_ids=ids).logits
    torch.nn.functional.log_softmax(logits.float(), -1)[..., 7].mean().backward()
    grads = [p.grad.clone() for p in tr.params]
    for p in tr.params:
        p.grad = None
    return logits.detach(), grads


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many fused steps ran: one entry per call."""
    calls: list[int] = []
    apply = fused_lora.FusedLora.apply

    def counting(*args):  # noqa: ANN002, ANN202
        calls.append(1)
        return apply(*args)

    monkeypatch.setattr(fused_lora.FusedLora, "apply", counting)
    return calls


@pytest.mark.parametrize("family", ["llama", "qwen2"])  # Qwen2's q, k and v carry a bias
def test_the_fused_layers_give_pefts_outputs_and_gradients(family: str, counted: list[int]) -> None:
    model = _model(family, "sdpa")
    tr = make_trainable(model, "lora", None, 4)
    _moved(tr)
    ids = torch.randint(1, 100, (3, 11), generator=torch.Generator().manual_seed(0))
    fused, fused_grads = _logits_and_grads(model, tr, ids)
    layers = sum(type(m) is LoraLinear for m in model.modules())
    assert len(counted) == layers == 2 * 7  # every adapted projection of both layers took the fused step
    tr._unfuse()  # PEFT's own forward from here on
    peft, peft_grads = _logits_and_grads(model, tr, ids)
    assert len(counted) == layers
    torch.testing.assert_close(fused, peft, rtol=1e-6, atol=1e-6)
    for a, b in zip(fused_grads, peft_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_the_input_gradient_sums_both_paths(counted: list[int]) -> None:
    """dL/dx of one layer against autograd's own through PEFT's two paths: the base's and the adapter's."""
    torch.manual_seed(0)
    x = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    w, bias = torch.randn(4, 6, dtype=torch.float64), torch.randn(4, dtype=torch.float64)
    a = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, a, b: fused_lora.FusedLora.apply(x, w, bias, a, b, 2.0), (x, a, b))
    out = fused_lora.FusedLora.apply(x, w, bias, a, b, 2.0)
    torch.testing.assert_close(out, x @ w.t() + bias + 2.0 * (x @ a.t()) @ b.t())


def test_everything_but_pefts_plain_case_runs_pefts_forward(tiny, counted: list[int]) -> None:
    model = tiny.model
    ids = torch.randint(1, 100, (2, 9), device=tiny.device)
    tr = make_trainable(model, "lora", None, 4)
    layers = sum(type(m) is LoraLinear for m in model.modules())
    with torch.no_grad():
        model(input_ids=ids)
        assert len(counted) == layers  # scoring with the adapters on
        with tr.reference():  # adapters off: the reference model
            model(input_ids=ids)
        with tr.side_by_side():  # the before and after rows in one batch (mixed adapters)
            model(input_ids=ids)
        with torch.autocast(tiny.device.type, dtype=torch.bfloat16):  # a GPU run's mixed precision
            model(input_ids=ids)
        inner = next(m for m in model.modules() if type(m) is LoraLinear).lora_A[ADAPTER]
        seen: list[int] = []
        hook = inner.register_forward_hook(lambda m, a, out: seen.append(1))  # GradNorm hooks the inner layers
        model(input_ids=ids)
        hook.remove()
        assert seen == [1]  # that layer ran PEFT's forward, which calls the hooked layer
    assert len(counted) == 2 * layers - 1  # the hooked layer stepped aside, every other one fused
    tr.reset()
    assert not any("forward" in vars(m) for m in model.modules())  # the layers are PEFT's again
    dora = LoraTrainable(model, config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj"], use_dora=True))
    with torch.no_grad():
        model(input_ids=ids)
    assert len(counted) == 2 * layers - 1  # DoRA is PEFT's variant: its own forward
    dora.reset()
