"""The forward-hook context (unlearn/model/hooks.py) and the masked input covariance
(unlearn/train/covariance.py) that K-FADE, REGLU, the neuron statistics and the side-by-side
LoRA rows share."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from unlearn.model.hooks import forward_hooks
from unlearn.train.covariance import InputCovariance, masked_second_moment

ROOT = Path(__file__).resolve().parents[1]


def _hooks_on(*modules: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in modules)


def test_hooks_run_inside_the_block_and_are_removed_after_it() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    seen: list[str] = []
    with forward_hooks([(a, lambda m, i, o: seen.append("a")), (b, lambda m, i, o: seen.append("b"))]) as handles:
        assert len(handles) == 2 and _hooks_on(a, b) == 2
        b(a(torch.zeros(1, 2)))
    b(a(torch.zeros(1, 2)))
    assert seen == ["a", "b"] and _hooks_on(a, b) == 0


def test_hooks_are_removed_after_an_exception() -> None:
    a = torch.nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="boom"):
        with forward_hooks([(a, lambda m, i, o: None)]):
            assert _hooks_on(a) == 1
            raise RuntimeError("boom")
    assert _hooks_on(a) == 0


def test_a_failed_registration_removes_the_hooks_already_registered() -> None:
    a = torch.nn.Linear(2, 2)

    def pairs():
        yield a, lambda m, i, o: None
        raise ValueError("no such module")

    with pytest.raises(ValueError, match="no such module"):
        with forward_hooks(pairs()):
            pass
    assert _hooks_on(a) == 0


def test_pre_hooks_with_kwargs_change_the_call_and_go_away() -> None:
    class Scale(torch.nn.Module):
        def forward(self, x: torch.Tensor, factor: float = 1.0) -> torch.Tensor:
            return x * factor

    m, x = Scale(), torch.ones(2)

    def inject(_m, args, kwargs):
        return args, {**kwargs, "factor": 3.0}

    with forward_hooks([(m, inject)], pre=True, with_kwargs=True):
        assert m(x).tolist() == [3.0, 3.0]
    assert m(x).tolist() == [1.0, 1.0] and _hooks_on(m) == 0


X = torch.tensor(
    [
        [[1.0, 2.0, 0.0], [3.0, -1.0, 2.0], [9.0, 9.0, 9.0]],
        [[0.5, 0.0, -2.0], [7.0, 7.0, 7.0], [1.0, 1.0, 1.0]],
    ]
)  # (B=2, T=3, d=3); the 9s and 7s are padding
MASK = torch.tensor([[True, True, False], [True, False, True]])


def _by_loops(x: torch.Tensor, mask: torch.Tensor) -> list[list[float]]:
    """Σ over the kept positions of x_i x_j, one number at a time."""
    d = x.shape[-1]
    out = [[0.0] * d for _ in range(d)]
    for b in range(x.shape[0]):
        for t in range(x.shape[1]):
            if mask[b, t]:
                for i in range(d):
                    for j in range(d):
                        out[i][j] += float(x[b, t, i]) * float(x[b, t, j])
    return out


def test_masked_second_moment_equals_the_sum_worked_by_hand() -> None:
    # kept rows: [1,2,0], [3,-1,2], [0.5,0,-2], [1,1,1]
    expected = [[11.25, 0.0, 6.0], [0.0, 6.0, -1.0], [6.0, -1.0, 9.0]]
    assert _by_loops(X, MASK) == expected
    assert masked_second_moment(X, MASK).tolist() == expected
    diag = masked_second_moment(X.half(), MASK, torch.float64, diagonal=True)  # rows cast before squaring
    assert diag.dtype == torch.float64 and diag.tolist() == [11.25, 6.0, 9.0]


def test_input_covariance_shares_one_input_and_normalises_by_the_kept_positions() -> None:
    cov = InputCovariance()
    second = X.flip(0)
    for x, mask in [(X, MASK), (second, MASK)]:
        cov.batch(mask)
        cov.add("q", x)
        cov.add("k", x)  # the same tensor: one shared product
    assert cov.count == 8
    hand = torch.tensor(_by_loops(X, MASK)) + torch.tensor(_by_loops(second, MASK))
    means = cov.mean()
    assert set(means) == {"q", "k"}
    torch.testing.assert_close(means["q"], hand / 8, rtol=0, atol=1e-6)
    assert torch.equal(means["q"], means["k"])


def test_a_new_tensor_at_a_freed_tensors_address_gets_its_own_product() -> None:
    """Under no_grad a freed layer input's memory is reused by a later input of the same width: the
    product must follow the tensor, not the address (REGLU's own cache got another layer's covariance)."""
    buf = X.clone()
    cov = InputCovariance()
    cov.batch(MASK)
    first = buf.view(2, 3, 3)
    cov.add("attn", first)
    address = first.data_ptr()
    del first  # freed; its memory now holds another layer's input
    buf.mul_(2)
    later = buf.view(2, 3, 3)
    assert later.data_ptr() == address  # same address and width: an address-keyed cache would share
    cov.add("mlp", later)
    assert torch.equal(cov.sums["mlp"], 4 * cov.sums["attn"])


def test_reglu_covariances_match_each_layer_computed_alone(tiny) -> None:
    """On the tiny model: every adapted layer's covariance equals its own input's X^T X / n."""
    from unlearn.data.examples import Example
    from unlearn.data.prompts import collate, encode
    from unlearn.train.methods.reglu import ReGLU
    from unlearn.train.params import make_trainable

    tr = make_trainable(tiny.model, "lora")
    examples = [Example("Who wrote the Harry Potter books?", "J.K. Rowling."), Example("Capital of France?", "Paris")]
    b = collate([encode(tiny.tokenizer, e) for e in examples], tiny.tokenizer.pad_token_id)
    b = {k: v.to(tiny.device) for k, v in b.items()}
    method = ReGLU.__new__(ReGLU)
    method.ctx = SimpleNamespace(model=tiny.model, reference=tr.reference)
    layers = method.lora_layers()
    covs = method.covariances(layers, [b])
    keep = b["attention_mask"].bool()
    alone: dict[str, torch.Tensor] = {}

    def own(name: str):
        def fn(_m, inputs, _o):
            x = inputs[0][keep].float()
            alone[name] = x.T @ x

        return fn

    with torch.no_grad(), tr.reference(), forward_hooks((m.base_layer, own(n)) for n, m in layers.items()):
        tiny.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"])
    n = int(keep.sum())
    assert set(covs) == set(layers)
    for name in layers:
        torch.testing.assert_close(covs[name], alone[name] / n, rtol=1e-6, atol=1e-6, msg=name)
    tr.reset()


CALLERS = {
    "unlearn/train/params.py": "forward_hooks",
    "unlearn/train/neurons.py": "from unlearn.train.covariance import",
    "unlearn/train/methods/kfade.py": "from unlearn.train.covariance import",
    "unlearn/train/methods/reglu.py": "from unlearn.train.covariance import",
}


def test_every_caller_uses_the_shared_hooks_and_covariance() -> None:
    registers = re.compile(r"register_forward(_pre)?_hook")
    hand_written = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "unlearn").rglob("*.py"))
        if p.name != "hooks.py" and registers.search(p.read_text())
    ]
    assert hand_written == []
    for path, needle in CALLERS.items():
        text = (ROOT / path).read_text()
        assert "from unlearn.model.hooks import forward_hooks" in text, path
        assert needle in text, path
        assert not re.search(r"\b(\w+)\.T @ \1\b", text), f"{path} computes X^T X by hand"
