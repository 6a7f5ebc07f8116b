"""The default attribution, gradient x input, on the tiny model.

It follows the gradient x input definition (Shrikumar et al. 2016, "Not just a black box"; Captum's
`InputXGradient`): a token's score is the gradient of the answer's total log-probability with
respect to the token's input embedding, dotted with that embedding. The tests recompute it by hand,
without Captum, and check it costs one forward and one backward and leaves the model as it was.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.data.prompts import encode, question_mask
from unlearn.inspection.attribution import METHODS, attribute
from unlearn.model.models import LoadedModel
from unlearn.train.params import make_trainable

EX = Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them.")


def direct_gradient_x_input(lm: LoadedModel, ex: Example) -> np.ndarray:
    """Gradient x input at the question's tokens, straight from the definition: embed the ids, run the
    model on the embeddings, sum the answer tokens' log-probabilities, differentiate by the embeddings."""
    enc = encode(lm.tokenizer, ex, 160)
    n_prompt = len(enc.input_ids) - enc.n_answer_tokens
    ids = torch.tensor([enc.input_ids], device=lm.model.device)
    emb = lm.model.get_input_embeddings()(ids).detach().requires_grad_()
    logp = lm.model(inputs_embeds=emb).logits[0, :-1].float().log_softmax(-1)  # (T - 1, V): predicts ids[1:]
    total = logp.gather(-1, ids[0, 1:, None])[n_prompt - 1 :].sum()
    (grad,) = torch.autograd.grad(total, emb)
    per_position = (grad * emb)[0].sum(-1)[:n_prompt].detach()
    keep = torch.tensor(question_mask(lm.tokenizer, enc.input_ids[:n_prompt]), device=per_position.device)
    return per_position[keep].float().cpu().numpy()


def test_gradient_is_the_default_method() -> None:
    assert next(iter(METHODS)) == "gradient"
    assert attribute.__defaults__ is not None and "gradient" in attribute.__defaults__


def test_gradient_x_input_matches_the_definition(tiny: LoadedModel) -> None:
    res = attribute(tiny.model, tiny.tokenizer, EX)
    assert res.method == "gradient" and res.seconds > 0
    assert "".join(res.tokens) == EX.question  # the question's tokens, not the template's
    expected = direct_gradient_x_input(tiny, EX)
    assert res.scores.shape == expected.shape == (len(res.tokens),)
    assert np.abs(expected).sum() > 0
    np.testing.assert_allclose(res.scores, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("adapters", [False, True])
def test_gradient_attribution_leaves_the_model_as_it_was(tiny: LoadedModel, adapters: bool) -> None:
    """As loaded, every weight requires gradients; with LoRA only the adapters do. Either way the
    backward must write no `.grad` and change no flag."""
    if adapters:
        make_trainable(tiny.model, "lora")
    model = tiny.model
    weights = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    modes = {n: m.training for n, m in model.named_modules()}
    grad_mode = torch.is_grad_enabled()
    assert any(flags.values()) and all(p.grad is None for p in model.parameters())
    attribute(model, tiny.tokenizer, EX, "gradient")
    for n, p in model.named_parameters():
        assert torch.equal(p, weights[n]) and p.grad is None and p.requires_grad == flags[n], n
    assert {n: m.training for n, m in model.named_modules()} == modes
    assert torch.is_grad_enabled() == grad_mode  # Captum turns gradients on for its forward only


def test_gradient_attribution_is_one_forward_and_one_backward(tiny: LoadedModel) -> None:
    counts = {"model": 0, "embed": 0, "backward": 0}
    model = tiny.model
    first_layer = model.model.layers[0]  # its input is the embedding output, which requires grad
    hooks = [
        model.register_forward_hook(lambda *_: counts.__setitem__("model", counts["model"] + 1)),
        model.get_input_embeddings().register_forward_hook(lambda *_: counts.__setitem__("embed", counts["embed"] + 1)),
        first_layer.register_full_backward_hook(lambda *_: counts.__setitem__("backward", counts["backward"] + 1)),
    ]
    try:
        attribute(model, tiny.tokenizer, EX, "gradient")
    finally:
        for h in hooks:
            h.remove()
    assert counts == {"model": 1, "embed": 1, "backward": 1}


def test_unknown_method_and_passage_are_refused(tiny: LoadedModel) -> None:
    with pytest.raises(ValueError, match="choose one of gradient, ablation, ig"):
        attribute(tiny.model, tiny.tokenizer, EX, "shap")
    with pytest.raises(ValueError, match="needs a question"):
        attribute(tiny.model, tiny.tokenizer, Example("", "A passage."))


def test_the_compare_tab_attributes_by_gradient_by_default(app_tiny, tmp_path) -> None:
    """The tab's radio starts on the gradient method; its label maps back to it, before and after a
    LoRA run, and the note and the plot name it."""
    from tests import tabs
    from tests.test_app_compare import _compare, _perturbed_run

    _perturbed_run(app_tiny, tmp_path)
    _compare(session="grad")
    label = METHODS["gradient"]
    msg, fig, _ = tabs.attribution_ui(label, SimpleNamespace(session_hash="grad"))
    assert msg.startswith(label) and "both models" in msg
    assert "gradient × input" in fig.layout.title.text and len(fig.data) == 2
    before, after = (np.asarray(d.y) for d in fig.data)
    assert before.shape == after.shape and not np.array_equal(before, after)  # the adapters change the gradient
