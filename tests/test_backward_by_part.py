"""A method that gives its forget and retain parts apart (NPO, GradDiff, ...) is back-propagated part by part, so a
step holds one part's activations at a time (issue 19: training memory). The gradient is the same as
the one backward of their sum, with and without a gradient rule, and fewer activations are alive at
once: the forget part's saved tensors are gone when the retain part's forward starts."""

from __future__ import annotations

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.train.gradients import RetainProjection, split_grads
from unlearn.train.methods import Context, StepBatch, config_for, get_method
from unlearn.train.params import make_trainable

FORGET = [Example(f"Who wrote book {i}?", f"Author {i} wrote it, long ago.") for i in range(4)]
RETAIN = [Example(f"What is {i} plus {i}?", f"It is {2 * i}.") for i in range(1, 5)]


def _batch(lm, items):
    return collate([encode(lm.tokenizer, e, 64) for e in items], lm.tokenizer.pad_token_id, lm.device)


# every method with a retain term whose two parts share no graph gives them apart
SPLITTING = ("npo", "grad_diff", "kl", "simnpo", "wga", "idk_dpo", "random_label", "pdu", "attn_shift")


def _grads(lm, by_part: bool, rule=None, method_id: str = "npo") -> tuple[float, list[torch.Tensor]]:
    torch.manual_seed(0)  # the same adapters for both ways
    tr = make_trainable(lm.model, "lora", None, 4)
    with torch.no_grad():  # the adapters start at B = 0: move them so "before" and "after" differ
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.05)
    cls = get_method(method_id)
    ctx = Context(lm.model, tr, encode=lambda items: _batch(lm, items), refusals=["I do not know."], seed=0)
    ctx.grad_rule = rule
    method = cls(config_for(method_id), ctx)
    b = StepBatch(_batch(lm, FORGET), _batch(lm, RETAIN), FORGET, RETAIN, 1)
    if by_part:
        loss, _ = method.backward(b, 0.5)
    else:  # the sum's one backward, as every method without parts is taken
        lf, lr, _ = method.terms(b)
        loss = float((lf + lr).detach())
        if rule is None:
            ((lf + lr) * 0.5).backward()
        else:
            params = [p for p in tr.params if p.requires_grad]
            combined, _ = rule.combine(*split_grads(lf, lr, params))
            for p, g in zip(params, combined, strict=True):
                p.grad = 0.5 * g
    grads = [p.grad.detach().clone() for p in tr.params]
    tr.reset()
    return loss, grads


@pytest.mark.parametrize("method_id", SPLITTING)
def test_a_method_gives_its_parts_apart_and_the_gradient_is_the_sums(tiny, method_id: str) -> None:
    assert get_method(method_id).splits() and not get_method("ga").splits()
    for rule in (None, RetainProjection):  # the GU rule keeps a history: a fresh one each way
        loss_a, ga = _grads(tiny, by_part=True, rule=rule and rule(2), method_id=method_id)
        loss_b, gb = _grads(tiny, by_part=False, rule=rule and rule(2), method_id=method_id)
        assert abs(loss_a - loss_b) < 1e-5
        for x, y in zip(ga, gb, strict=True):
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)


def test_a_method_without_a_loss_is_refused_at_registration(monkeypatch) -> None:
    from unlearn.train.methods import Method, MethodInfo, registry

    monkeypatch.setattr(registry, "METHODS", dict(registry.METHODS))

    class HalfSplit(Method):  # a forget part without its retain part, and no terms()
        info = MethodInfo(id="half_split", name="Half", paper="none", summary="none", needs_retain=False)

        def forget_part(self, b):
            return self.zero(), {}

    with pytest.raises(TypeError, match="neither terms"):
        registry.register(HalfSplit)
    assert "half_split" not in registry.METHODS


def test_the_forget_graph_is_freed_before_the_retain_forward(tiny) -> None:
    tr = make_trainable(tiny.model, "lora", None, 4)
    alive: list[int] = []  # saved tensors alive when each retain forward starts
    saved: set[int] = set()

    def pack(t: torch.Tensor):
        saved.add(id(t))
        return t

    method = get_method("npo")(config_for("npo"), Context(tiny.model, tr))
    retain_part = method.retain_part

    def watched(b):
        import gc

        gc.collect()
        alive.append(sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor) and id(o) in saved))
        return retain_part(b)

    method.retain_part = watched
    b = StepBatch(_batch(tiny, FORGET), _batch(tiny, RETAIN), FORGET, RETAIN, 1)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        method.backward(b)
    tr.reset()
    # only tensors that outlive a graph (weights, the batch) can remain; the forget forward saved many more
    assert alive and alive[0] < len(saved) // 4
