"""Every loss on numbers small enough to check by hand.

One forget answer of two tokens over a 3-token vocabulary. The logits are log-probabilities, so
the softmax is the probability row written below and each expected value is plain arithmetic:

    position t      predicts    p_θ (current)        p_θ₀ (reference)
    0               token 1     [0.2, 0.6, 0.2]      [1/3, 1/3, 1/3]
    1               token 2     [0.25, 0.25, 0.5]    [0.5, 0.25, 0.25]

The retain batch reads the same rows but has one answer token, token 0 at position 1:
ℓ(x_r) = −log 0.25 = log 4 under θ.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.train.losses import kl_on_answers, mean_nll, sequence_nll, shift, soft_target_ce, token_nll
from unlearn.train.methods import Context, StepBatch, config_for, get_method
from unlearn.train.methods.common import npo_term, retain_loss, seq_logprob

P = [[0.2, 0.6, 0.2], [0.25, 0.25, 0.5], [0.5, 0.3, 0.2]]  # the last row predicts nothing
Q = [[1 / 3, 1 / 3, 1 / 3], [0.5, 0.25, 0.25], [0.2, 0.3, 0.5]]
LOGITS = torch.tensor([P]).log()  # (1, 3, 3)
REF_LOGITS = torch.tensor([Q]).log()
FORGET = {
    "input_ids": torch.tensor([[7, 1, 2]]),
    "attention_mask": torch.ones(1, 3, dtype=torch.long),
    "labels": torch.tensor([[-100, 1, 2]]),
}
RETAIN = {**FORGET, "labels": torch.tensor([[-100, -100, 0]])}
REFUSAL = {**FORGET, "labels": torch.tensor([[-100, 0, 0]])}  # the "I don't know" answer: tokens 0, 0
LN = math.log
NLL_F = -LN(0.6) - LN(0.5)  # NLL_θ(x_f) = −log 0.3
NLL_F_REF = -LN(1 / 3) - LN(0.25)  # NLL_θ₀(x_f) = log 12
RETAIN_NLL = LN(4)

# RMU reads hidden states, on a 2-token text: "decoder layer 1" (hidden_states[2]), d = 2
H = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
H_REF = torch.tensor([[[3.0, 4.0], [6.0, 8.0]]])  # norms 5 and 10: mean ‖h‖ = 7.5
TEXT2 = {"input_ids": torch.tensor([[7, 1]]), "attention_mask": torch.ones(1, 2, dtype=torch.long)}


class Stub(torch.nn.Module):
    """A "model" that returns fixed logits (and hidden states) whatever the input, switched to the
    reference ones inside `reference()`."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))  # so the stub has a device
        self.config = SimpleNamespace(num_hidden_layers=2)
        self.ref = False

    def forward(self, input_ids, attention_mask, output_hidden_states=False):
        logits, h = (REF_LOGITS, H_REF) if self.ref else (LOGITS, H)
        hidden = (torch.zeros_like(h), torch.zeros_like(h), h) if output_hidden_states else None
        return SimpleNamespace(logits=logits[:, : input_ids.shape[1]] + self.w, hidden_states=hidden)  # (B, T, V)


class StubTrainable:
    def __init__(self, model: Stub) -> None:
        self.model = model

    @contextmanager
    def reference(self):
        self.model.ref = True
        try:
            yield
        finally:
            self.model.ref = False


def make_ctx(encoded: list | None = None) -> Context:
    model = Stub()

    def encode(examples):
        if encoded is not None:
            encoded.extend(examples)
        return REFUSAL

    return Context(model, StubTrainable(model), encode=encode, refusals=["I don't know."], seed=3)


FORGET_EXAMPLES = [Example("Who wrote it?", "She did.")]  # the examples behind FORGET (IdK, random labels)


def step_batch(forget, retain) -> StepBatch:
    return StepBatch(forget, retain, FORGET_EXAMPLES, [], step=1)


def method_loss(method_id: str, retain=RETAIN, ctx: Context | None = None, forget=FORGET, **hp) -> float:
    ctx = ctx or make_ctx()
    method = get_method(method_id)(config_for(method_id, **hp), ctx)
    loss, logs = method.loss(step_batch(forget, retain))
    assert all(isinstance(v, float) for v in logs.values())
    return loss.item()


def log_sigmoid(x: float) -> float:
    return -LN(1 + math.exp(-x))


# --- shared terms --------------------------------------------------------------------------


def test_shift_aligns_position_t_with_token_t_plus_1() -> None:
    lg, target, mask = shift(LOGITS, FORGET["labels"])
    assert lg.shape == (1, 2, 3)
    assert target.tolist() == [[1, 2]] and mask.tolist() == [[True, True]]
    assert shift(LOGITS, RETAIN["labels"])[2].tolist() == [[False, True]]


def test_token_sequence_and_mean_nll() -> None:
    nll, mask = token_nll(LOGITS, FORGET["labels"])
    assert nll[0].tolist() == pytest.approx([-LN(0.6), -LN(0.5)], rel=1e-6)
    total, n = sequence_nll(LOGITS, FORGET["labels"])
    assert total.item() == pytest.approx(-LN(0.3), rel=1e-6) and n.item() == 2
    assert mean_nll(LOGITS, FORGET["labels"]).item() == pytest.approx(-LN(0.3) / 2, rel=1e-6)
    assert token_nll(LOGITS, RETAIN["labels"])[0][0].tolist() == pytest.approx([0.0, RETAIN_NLL], rel=1e-6)


def test_kl_on_answers_is_kl_of_reference_to_current() -> None:
    kl0 = 3 * (1 / 3) * LN((1 / 3) / 0.2) - (1 / 3) * LN(0.6 / 0.2)  # Σ q log(q/p), position 0
    kl1 = 0.5 * LN(0.5 / 0.25) + 0.25 * LN(1.0) + 0.25 * LN(0.25 / 0.5)
    assert kl_on_answers(REF_LOGITS, LOGITS, FORGET["labels"]).item() == pytest.approx((kl0 + kl1) / 2, rel=1e-5)


def test_soft_target_ce() -> None:
    target = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]]])  # (1, T-1, V)
    expected = (-LN(0.2) + -(0.5 * LN(0.25) + 0.5 * LN(0.5))) / 2
    assert soft_target_ce(LOGITS, target, FORGET["labels"]).item() == pytest.approx(expected, rel=1e-6)


def test_retain_loss_kinds() -> None:
    ctx = make_ctx()
    assert retain_loss(ctx, RETAIN, "nll").item() == pytest.approx(RETAIN_NLL, rel=1e-6)
    kl = 0.5 * LN(2) + 0.25 * LN(1) + 0.25 * LN(0.5)  # position 1 only
    assert retain_loss(ctx, RETAIN, "kl").item() == pytest.approx(kl, rel=1e-5)
    assert retain_loss(ctx, None).item() == 0.0
    with pytest.raises(ValueError, match="valid: nll, kl"):
        retain_loss(ctx, RETAIN, "mse")


def test_npo_term_and_seq_logprob() -> None:
    ctx = make_ctx()
    assert seq_logprob(ctx, FORGET).item() == pytest.approx(-NLL_F, rel=1e-6)
    assert seq_logprob(ctx, FORGET, reference=True).item() == pytest.approx(-NLL_F_REF, rel=1e-6)
    delta = LN(3.6)  # log 0.3 − log(1/12)
    got = npo_term(torch.tensor([-NLL_F]), torch.tensor([-NLL_F_REF]), 0.1).item()
    assert got == pytest.approx(-(2 / 0.1) * log_sigmoid(-0.1 * delta), rel=1e-6)


# --- every method --------------------------------------------------------------------------


def test_ga() -> None:
    assert method_loss("ga") == pytest.approx(-NLL_F / 2, rel=1e-6)


def test_grad_diff() -> None:
    assert method_loss("grad_diff", gamma=2.0, alpha=3.0) == pytest.approx(-2 * NLL_F / 2 + 3 * RETAIN_NLL, rel=1e-6)


def test_kl() -> None:
    kl = 0.25 * LN(2)  # 0.5·log 2 + 0.25·log 1 + 0.25·log 0.5
    assert method_loss("kl", alpha=2.0) == pytest.approx(-NLL_F / 2 + 2 * kl, rel=1e-5)


def test_npo() -> None:
    delta = -NLL_F + NLL_F_REF
    expected = -(2 / 0.1) * log_sigmoid(-0.1 * delta) + RETAIN_NLL
    assert method_loss("npo", beta=0.1, alpha=1.0) == pytest.approx(expected, rel=1e-6)


def test_simnpo() -> None:
    expected = 0.5 * -(2 / 4.5) * log_sigmoid(4.5 * (NLL_F / 2 - 0.0)) + RETAIN_NLL
    assert method_loss("simnpo", gamma=0.5, beta=4.5) == pytest.approx(expected, rel=1e-6)


def test_idk_dpo_prefers_a_refusal_drawn_for_each_forget_example() -> None:
    encoded: list[Example] = []
    d_idk = (LN(0.2) + LN(0.25)) - (LN(1 / 3) + LN(0.5))  # refusal tokens 0, 0 under θ and θ₀
    d_f = -NLL_F + NLL_F_REF
    expected = -(2 / 0.1) * log_sigmoid(0.1 * (d_idk - d_f)) + RETAIN_NLL
    assert method_loss("idk_dpo", ctx=make_ctx(encoded)) == pytest.approx(expected, rel=1e-6)
    assert encoded == [replace(Example("Who wrote it?", "She did."), answer="I don't know.")]


def test_rmu_steers_layer_l_to_c_times_mean_norm_and_keeps_retain_activations() -> None:
    u = torch.rand(2, generator=torch.Generator().manual_seed(3))  # the run seed is 3
    target = (2.0 * 7.5) * (u / u.norm())  # c = 2 × mean ‖h_l‖ of the reference
    forget = ((H[0] - target) ** 2).mean(-1).mean().item()
    retain = ((1 - 3) ** 2 + (0 - 4) ** 2) / 2 / 2 + ((0 - 6) ** 2 + (1 - 8) ** 2) / 2 / 2  # 26.25
    got = method_loss("rmu", forget=TEXT2, retain=TEXT2, c=2.0, alpha=10.0)
    assert got == pytest.approx(forget + 10 * retain, rel=1e-6)
    absolute = (H[0] - 2.0 * (u / u.norm())).pow(2).mean().item()
    got = method_loss("rmu", forget=TEXT2, retain=None, c=2.0, c_relative=False)
    assert got == pytest.approx(absolute, rel=1e-6)


def test_rmu_subset_is_down_proj_of_layers_l_minus_2_to_l() -> None:
    import re

    rmu = get_method("rmu")
    rx = re.compile(rmu.subset_pattern(config_for("rmu"), 30))
    assert [i for i in range(30) if rx.fullmatch(f"model.layers.{i}.mlp.down_proj.weight")] == [5, 6, 7]
    assert not rx.fullmatch("model.layers.7.mlp.up_proj.weight")
    assert rx.fullmatch("model.layers.6.mlp.down_proj.base_layer.weight")  # after a LoRA run wrapped it
    rx = re.compile(rmu.subset_pattern(config_for("rmu"), 2))  # l = 7 clamped to the last layer
    assert [i for i in range(2) if rx.fullmatch(f"model.layers.{i}.mlp.down_proj.weight")] == [0, 1]


def test_undial_distils_the_reference_with_the_true_token_damped() -> None:
    def target(q: list[float], y: int) -> list[float]:
        w = [qi * (math.exp(-10) if i == y else 1.0) for i, qi in enumerate(q)]
        return [wi / sum(w) for wi in w]

    ce = [-sum(t * LN(p) for t, p in zip(target(Q[t], y), P[t], strict=True)) for t, y in ((0, 1), (1, 2))]
    assert method_loss("undial") == pytest.approx(sum(ce) / 2, rel=1e-6)


def test_wga_weights_each_token_by_its_probability() -> None:
    expected = -(0.6 * -LN(0.6) + 0.5 * -LN(0.5)) / 2 + RETAIN_NLL
    assert method_loss("wga") == pytest.approx(expected, rel=1e-6)
    expected_b2 = -(0.6**2 * -LN(0.6) + 0.5**2 * -LN(0.5)) / 2 + RETAIN_NLL
    assert method_loss("wga", beta=2.0) == pytest.approx(expected_b2, rel=1e-6)


def test_ce_u_skips_the_first_answer_token_and_removes_the_true_one() -> None:
    # only position 1 (token 2) counts; target = p_θ without token 2, renormalised = [0.5, 0.5, 0]
    assert method_loss("ce_u") == pytest.approx(-(0.5 * LN(0.25) + 0.5 * LN(0.25)), rel=1e-6)
    # nothing skipped: position 0 (token 1) adds target [0.5, 0, 0.5]
    both = (-(0.5 * LN(0.2) + 0.5 * LN(0.2)) + LN(4)) / 2
    assert method_loss("ce_u", skip_first=0) == pytest.approx(both, rel=1e-6)


def test_ce_u_target_carries_no_gradient() -> None:
    logits = LOGITS.clone().requires_grad_(True)
    ctx = make_ctx()
    ctx.model.forward = lambda input_ids, attention_mask: SimpleNamespace(logits=logits)
    loss, _ = get_method("ce_u")(config_for("ce_u"), ctx).loss(step_batch(FORGET, None))
    loss.backward()
    # d/dz CE(z, q) = softmax(z) − q at position 1 with q held fixed: [0.25−0.5, 0.25−0.5, 0.5−0]
    assert logits.grad[0, 1].tolist() == pytest.approx([-0.25, -0.25, 0.5], abs=1e-6)


def test_pdu_margin_loss_bound_and_dual_step() -> None:
    margin0 = LN(0.6) - (2 * LN(0.2) + LN(0.6)) / 3  # max − mean of log p, = (2/3)·log 3
    margin1 = LN(0.5) - (2 * LN(0.25) + LN(0.5)) / 3  # = (2/3)·log 2
    lf = (margin0**2 + margin1**2) / 2
    eps = RETAIN_NLL * 1.05  # first-step retain loss × (1 + eps_margin)
    ctx = make_ctx()
    pdu = get_method("pdu")(config_for("pdu", lambda0=100.0, eta=5.0, eps_margin=0.05, warmup_steps=1), ctx)
    loss, logs = pdu.loss(step_batch(FORGET, RETAIN))
    assert loss.item() == pytest.approx(lf + 100 * (RETAIN_NLL - eps), rel=1e-6)
    assert logs["lambda"] == 100.0 and logs["eps"] == pytest.approx(eps, rel=1e-6)
    pdu.after_step(logs, 1)  # step 1 is the warm-up: λ stays
    assert pdu.lam == 100.0
    pdu.after_step(logs, 2)
    assert pdu.lam == pytest.approx(100 + 5 * (RETAIN_NLL - eps), rel=1e-6)
    pdu.after_step({**logs, "retain_loss": eps - 100}, 2)  # far inside the bound: λ clipped at 0
    assert pdu.lam == 0.0


def test_shred_demotes_only_the_most_surprising_position() -> None:
    # surprisal under θ₀: position 0 −log(1/3), position 1 −log(0.25): with P = 20% of 2 positions,
    # ceil(0.4) = 1 is demoted, position 1; K = 50 covers the whole 3-token vocabulary
    def kl(t: list[float], p: list[float]) -> float:
        return sum(ti * LN(ti / pi) for ti, pi in zip(t, p, strict=True))

    w = [Q[1][0], Q[1][1], Q[1][2] * math.exp(-10)]
    demoted = [wi / sum(w) for wi in w]
    expected = (kl(Q[0], P[0]) + kl(demoted, P[1])) / 2
    assert method_loss("shred") == pytest.approx(expected, rel=1e-5)


def test_random_label_learns_another_forget_items_answer() -> None:
    encoded: list = []
    ctx = make_ctx(encoded)
    ctx.all_forget = [*FORGET_EXAMPLES, Example("Where?", "Other.")]
    # the wrong answer is encoded as REFUSAL here: tokens 0, 0 at positions 1, 2
    expected = (LN(5) + LN(4)) / 2 + RETAIN_NLL
    assert method_loss("random_label", ctx=ctx) == pytest.approx(expected, rel=1e-6)
    assert [e.answer for e in encoded] == ["Other."]  # never the item's own answer
