"""Gradient combination rules on hand-made vectors; coreset and MELU selection; the run options
that use them, on the tiny model."""

from __future__ import annotations

import math

import pytest
import torch

from unlearn.data.examples import Example
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.gradients import BlurRule, OrthogonalForget, RetainProjection, dot, split_grads
from unlearn.train.loop import LoopConfig
from unlearn.train.selection import coreset, entity_pairs

G_F = [torch.tensor([1.0, 1.0]), torch.tensor([2.0])]  # one "model" of two tensors
G_R = [torch.tensor([1.0, 0.0]), torch.tensor([0.0])]


def test_blur_keeps_the_whole_forget_step_and_removes_the_retain_part_along_it() -> None:
    g, logs = BlurRule(gamma=1.0).combine(G_F, G_R)
    # ⟨g_r, g_f⟩ = 1, ‖g_f‖² = 6: g = g_r + (1 − 1/6)·g_f
    expected = [torch.tensor([1 + 5 / 6, 5 / 6]), torch.tensor([10 / 6])]
    for a, b in zip(g, expected, strict=True):
        torch.testing.assert_close(a, b)
    assert float(dot(g, G_F)) == pytest.approx(6.0)  # = γ·‖g_f‖²: forgetting exactly as the plain forget step
    assert logs["cos_fr"] == pytest.approx(1 / math.sqrt(6))


def test_ofmu_forgets_orthogonally_to_the_retain_gradient() -> None:
    g, _ = OrthogonalForget(beta=1.0).combine(G_F, G_R)
    # g_f − (⟨g_f,g_r⟩/‖g_r‖²)·g_r = [0, 1], [2]; plus g_r
    torch.testing.assert_close(g[0], torch.tensor([1.0, 1.0]))
    torch.testing.assert_close(g[1], torch.tensor([2.0]))
    forget_part = [a - b for a, b in zip(g, G_R, strict=True)]
    assert float(dot(forget_part, G_R)) == pytest.approx(0.0)


def test_gu_projects_out_the_span_of_recent_retain_gradients_per_tensor() -> None:
    rule = RetainProjection(k=2)
    rule.combine(G_F, G_R)  # remembers g_r = e1 for tensor 0
    g, logs = rule.combine(G_F, [torch.tensor([0.0, 1.0]), torch.tensor([0.0])])  # now e2 as well
    # tensor 0: span{e1, e2} is everything, so nothing of g_f is left; only the new g_r
    torch.testing.assert_close(g[0], torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(g[1], torch.tensor([2.0]))  # tensor 1 never saw a retain gradient
    assert logs["projected_share"] == pytest.approx(2 / 6)
    with pytest.raises(ValueError, match="at least 1"):
        RetainProjection(k=0)


def test_split_grads_are_the_gradients_of_each_term() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    g_f, g_r = split_grads((w**2).sum(), 3 * w[0], [w])
    torch.testing.assert_close(g_f[0], torch.tensor([2.0, 4.0]))
    torch.testing.assert_close(g_r[0], torch.tensor([3.0, 0.0]))


ITEMS = [
    Example("Q1", "Harry met Ron.", entity="a"),
    Example("Q2", "Harry and Hermione.", entity="a"),
    Example("Q3", "Dobby is free.", entity="b"),
    Example("Q4", "Harry flew.", entity="b"),
    Example("Q5", "A quiet day.", entity="c"),
]


def test_coreset_takes_the_share_asked_reproducibly() -> None:
    assert len(coreset(ITEMS, 0.4, "random", seed=1)) == 2
    assert coreset(ITEMS, 0.4, "random", seed=1) == coreset(ITEMS, 0.4, "random", seed=1)
    assert len(coreset(ITEMS, 0.01)) == 1  # never empty
    assert coreset(ITEMS, 1.0) == ITEMS
    # keyword mode keeps the items whose words the set shares most ("harry" is in three)
    picked = coreset(ITEMS, 0.6, "keyword")
    assert all("Harry" in e.answer for e in picked)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        coreset(ITEMS, 0.0)
    with pytest.raises(ValueError, match="valid: random, keyword"):
        coreset(ITEMS, 0.5, "best")


def test_melu_batches_go_entity_by_entity_with_neighbours_first() -> None:
    retain = [Example("R1", "x", entity="a"), Example("R2", "y"), Example("R3", "z")]
    pairs = entity_pairs(ITEMS, retain, batch_size=2, seed=0)
    seen = [next(pairs) for _ in range(3)]  # one epoch: a, b, c (each fits in one batch)
    assert sorted({e.entity for f, _ in seen for e in f}) == ["a", "b", "c"]
    for f, r in seen:
        assert len({e.entity for e in f}) == 1  # one entity per forget batch
        if f[0].entity == "a":
            assert r[0].question == "R1"  # its neighbour comes first, then general retain items
    with pytest.raises(ValueError, match="entity"):
        next(entity_pairs([Example("Q", "A")], retain, 2, 0))


FORGET = [Example("Who wrote the red book?", "Anna Berg wrote it."), Example("Where is Zorn?", "Zorn is by the sea.")]
RETAIN = [Example("What is two and two?", "Four."), Example("What colour is snow?", "White.")]


def test_the_gu_switch_changes_the_steps_and_reports_the_projection(tiny) -> None:
    def run(k: int) -> list[dict]:
        spec = RunSpec("grad_diff", loop=LoopConfig(lr=1e-2, steps=3, batch_size=2), project_retain=k, eval_every=0)
        out = run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)
        out.trainable.reset()
        return out.history

    plain, projected = run(0), run(2)
    assert "projected_share" in projected[0] and 0 <= projected[0]["projected_share"] <= 1
    assert projected[-1]["forget_nll"] != plain[-1]["forget_nll"]


@pytest.mark.parametrize(
    ("method", "options", "message"),
    [
        ("blur", {"project_retain": 2}, "already combines"),
        ("ucan", {"project_retain": 2}, "training-free"),
        ("npo", {"project_retain": -1}, "k ≥ 0"),
    ],
)
def test_option_combinations_no_run_can_honour_are_refused(tiny, method, options, message) -> None:
    spec = RunSpec(method, loop=LoopConfig(steps=1, batch_size=2), **options)
    with pytest.raises(ValueError, match=message):
        run_unlearning(tiny, spec, FORGET, RETAIN, RETAIN)


def test_gu_without_a_retain_set_is_refused(tiny) -> None:
    with pytest.raises(ValueError, match="needs a retain set"):
        run_unlearning(tiny, RunSpec("npo", loop=LoopConfig(steps=1), project_retain=2), FORGET, [], [])


def test_a_coreset_run_trains_on_the_share_and_measures_the_whole_set(tiny) -> None:
    seen: list[str] = []
    spec = RunSpec("ga", loop=LoopConfig(lr=1e-2, steps=2, batch_size=4), coreset=0.5, eval_every=0)
    from unlearn.train.methods.ga import GradientAscent

    real = GradientAscent.terms

    def spy(self, b):
        seen.append(repr(b.forget_examples))
        return real(self, b)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GradientAscent, "terms", spy)
        out = run_unlearning(tiny, spec, FORGET, [], [])
    assert all(s.count("Example(") == 1 for s in seen)  # one of the two forget items per batch
    assert math.isfinite(out.metrics["forget_prob_after"])


def test_attention_shifting_measures_attention_from_answer_queries_to_fact_tokens() -> None:
    from unlearn.train.methods.attn_shift import answer_queries, attention_to, top_prompt_tokens

    labels = torch.tensor([[-100, -100, -100, 5, 6]])  # prompt 0-2, answer 3-4
    mask = torch.ones(1, 5, dtype=torch.long)
    queries = answer_queries(labels, mask)
    assert queries.tolist() == [[False, False, True, True, False]]  # positions 2 and 3 produce the answer
    importance = torch.tensor([[0.1, 0.9, 0.5, 9.0, 9.0]])  # answer tokens are never fact tokens
    keys = top_prompt_tokens(importance, labels, mask, k=1)
    assert keys.tolist() == [[False, True, False, False, False]]
    att = torch.zeros(1, 2, 5, 5)  # two heads
    att[0, 0, 2, 1], att[0, 1, 2, 1] = 0.5, 0.3  # query 2 looks at token 1: 0.5 and 0.3 (head mean 0.4)
    att[0, 0, 3, 1], att[0, 1, 3, 1] = 0.2, 0.2  # query 3: mean 0.2
    att[0, 0, 0, 1] = 1.0  # a prompt query: not counted
    # mean over the two queries (0.4, 0.2) and over the two layers given
    assert float(attention_to((att, att), queries, keys)) == pytest.approx(0.3)


def test_kfade_damps_each_factor_relative_to_its_mean_eigenvalue() -> None:
    from unlearn.train.methods.kfade import damped_inverse

    # eigenvalues 2 and 0: mean 1, so λ = 0.5 · 1 and the inverse is diag(1/2.5, 1/0.5)
    inv = damped_inverse(torch.tensor([[2.0, 0.0], [0.0, 0.0]]), 0.5)
    torch.testing.assert_close(inv, torch.tensor([[0.4, 0.0], [0.0, 2.0]]))
