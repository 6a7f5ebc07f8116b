"""One contract over every registered method, on the tiny model: finite loss, gradients only
where the method trains, the forget loss moves the right way, and reset restores the original
logits bit for bit."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.data.prompts import collate, encode
from unlearn.model.scoring import answer_nll
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.methods import METHODS, config_for, describe, get_method

FORGET = [
    Example("Who wrote the Harry Potter books?", "J.K. Rowling wrote them."),
    Example("What is the school in Harry Potter?", "Hogwarts is a school of magic."),
]
RETAIN = [Example("What is the capital of France?", "The capital of France is Paris.")]


@pytest.fixture(scope="module")
def knowing_dir(tiny_dir, tmp_path_factory):
    """The tiny model after learning FORGET + RETAIN: unlearning needs something known to forget
    (on an untrained model SimNPO's sigmoid is saturated and nothing moves, as it should)."""
    from unlearn.data.teach import TeachConfig, teach
    from unlearn.model.models import load_model

    cfg = TeachConfig(epochs=40, lr=1e-2, batch_size=3, replay=None, train_embeddings=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNLEARN_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        return teach(load_model(str(tiny_dir), device="cpu"), FORGET + RETAIN, "contract", cfg).path


@pytest.fixture
def knowing(knowing_dir):
    from unlearn.model.models import load_model

    return load_model(knowing_dir, device="cpu")


def _logits(lm) -> torch.Tensor:
    b = collate([encode(lm.tokenizer, e) for e in FORGET + RETAIN], lm.tokenizer.pad_token_id)
    with torch.no_grad():
        return lm.model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits.clone()


TINY_LAYERS = 2  # conftest.make_tiny_model


def _modes(method_id: str) -> list[str]:
    """lora and full for every method; "subset" too where the method names its own parameters;
    a training-free method edits its own tensors only."""
    if get_method(method_id).info.training_free:
        return ["subset"]
    if get_method(method_id).info.lora_only:
        return ["lora"]
    pattern = get_method(method_id).subset_pattern(config_for(method_id), TINY_LAYERS)
    return ["lora", "full"] + (["subset"] if pattern is not None else [])


CASES = [(m, mode) for m in sorted(METHODS) for mode in _modes(m)]

# Learning rate per method where 5e-3 does not fit the tiny model (say why); the rest use LR.
LR = 5e-3
METHOD_LR: dict[str, float] = {}
# Hyperparameters where the quick defaults do not fit a 2-layer toy (say why).
METHOD_HP: dict[str, dict] = {
    # τ = 3 standard deviations: the toy's few neurons rarely stand out that far
    "ucan": {"tau": 0.5, "kappa": 4.0},
    # 64 neurons is more than the toy's whole MLPs carry on two answers; remove a handful
    "modhifi": {"m": 8},
    # the toy's states on any question point almost the same way, so the refusal direction is close
    # to where the forget states already are: a larger multiple of their norm is needed to move them
    "reva": {"c": 16.0},
}


@pytest.mark.parametrize(("method_id", "mode"), CASES)
def test_method_contract(method_id: str, mode: str, knowing) -> None:
    tiny = knowing
    before_logits = _logits(tiny)
    base = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    nll0 = answer_nll(tiny.model, tiny.tokenizer, FORGET).mean()
    lr = METHOD_LR.get(method_id, LR)
    loop = LoopConfig(lr=lr, steps=4, batch_size=2)
    spec = RunSpec(method_id, hparams=METHOD_HP.get(method_id, {}), mode=mode, loop=loop, eval_items=2)
    grads_seen: dict[str, bool] = {}

    def check_grads(step) -> None:
        # after a step the grads were zeroed, so look at which tensors moved instead
        for n, p in tiny.model.named_parameters():
            if n in base and not torch.equal(p.detach(), base[n]):
                grads_seen[n] = True

    out = run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN, on_step=check_grads)
    assert all(math.isfinite(h.get("grad_norm", 0.0)) for h in out.history)
    trained = {id(p) for p in out.trainable.params}
    for n, p in tiny.model.named_parameters():
        if id(p) not in trained:
            assert n not in grads_seen, f"{method_id} changed {n}, which it does not train"
    assert out.trainable.n_trained() > 0
    nll1 = answer_nll(tiny.model, tiny.tokenizer, FORGET).mean()
    assert nll1 > nll0, f"{method_id}: forget NLL should rise ({nll0:.4f} -> {nll1:.4f})"
    with out.trainable.reference():
        assert torch.equal(_logits(tiny), before_logits), "reference() must be the model before"
    out.trainable.reset()
    assert torch.equal(_logits(tiny), before_logits), "reset() must restore the original exactly"


@pytest.mark.parametrize("method_id", sorted(METHODS))
def test_every_method_describes_itself_with_both_default_sets(method_id: str) -> None:
    d = describe(method_id)
    assert d["paper"] and d["summary"] and "faithful" in d
    for h in d["hyperparameters"]:
        assert h["help"] and h["paper"] is not None
    assert config_for(method_id, "paper") is not None


def test_unknown_method_and_hyperparameter_list_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="valid: .*npo"):
        get_method("nope")
    with pytest.raises(ValueError, match="valid"):
        config_for("npo", bogus=1)


def test_methods_that_need_a_retain_set_say_so(tiny) -> None:
    with pytest.raises(ValueError, match="needs a retain set"):
        run_unlearning(tiny, RunSpec("grad_diff", loop=LoopConfig(steps=1)), FORGET, [], [])


def test_builtin_sets_feed_the_engine(tiny) -> None:
    forget = load_selection("harry_potter:known").examples
    out = run_unlearning(
        tiny,
        RunSpec("npo", loop=LoopConfig(lr=1e-3, steps=1, batch_size=4), eval_items=2),
        forget,
        load_selection("general_knowledge:train").examples[:4],
        load_selection("general_knowledge:eval").examples[:4],
    )
    assert set(out.metrics) >= {"forget_prob_before", "forget_prob_after", "retain_prob_before", "retain_prob_after"}


def test_a_lora_only_method_refuses_other_modes_before_it_starts(tiny) -> None:
    with pytest.raises(ValueError, match="pick 'LoRA adapters'"):
        run_unlearning(tiny, RunSpec("reglu", mode="full", loop=LoopConfig(steps=1)), FORGET, RETAIN, RETAIN)


def test_reglu_starts_its_adapters_in_the_forget_directions(knowing) -> None:
    """The generalised eigenvector is the input direction strong on forget and weak on retain (here
    e0: ratio 4, against 1 and 1/4); a run initialises the adapters and logs the regulariser."""
    from unlearn.train.methods.reglu import generalized_top

    c_f = torch.diag(torch.tensor([4.0, 1.0, 1.0]))
    c_r = torch.diag(torch.tensor([1.0, 1.0, 4.0]))
    v = generalized_top(c_f, c_r, 1, eps=1e-6)  # λ = 4 along e0, 1 along e1, 1/4 along e2
    torch.testing.assert_close(v.abs().flatten(), torch.tensor([1.0, 0.0, 0.0]), atol=1e-5, rtol=0)
    spec = RunSpec("reglu", loop=LoopConfig(lr=5e-3, steps=1, batch_size=2), eval_items=2)
    out = run_unlearning(knowing, spec, FORGET, RETAIN, RETAIN)
    assert out.history[0]["layers_initialised"] > 0 and math.isfinite(out.history[0]["orth_reg"])
    out.trainable.reset()


def test_kfade_keeps_each_step_within_the_measured_retain_kl_budget(knowing) -> None:
    budget = 0.01
    spec = RunSpec("kfade", hparams={"kl_budget": budget, "steps": 2}, loop=LoopConfig(batch_size=2), eval_items=2)
    out = run_unlearning(knowing, spec, FORGET, RETAIN, RETAIN)
    logs = out.history[0]
    assert logs["retain_kl_step1"] <= budget + 1e-6
    assert logs["retain_kl_step2"] <= 2 * budget + 1e-6  # the budget is per step
    assert logs["eta_step1"] > 0
    out.trainable.reset()
