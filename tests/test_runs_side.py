"""Runs side by side (issue 20): two to six saved runs and the model as loaded on one item, each
model's answer, token log-probabilities and top-k, from the one shared model; the run on the model
is put back and its weights are left bit for bit."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.test_app_unlearn import _run
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.errors import UserError
from unlearn.inspection.runs_side import SideBySide, View, runs_side_by_side
from unlearn.serve.store import STORE
from unlearn.train.runs import list_runs
from viz.runs_side import side_rows, side_strips, side_topk

from . import tabs


def _gold_logprob(model, tokenizer, ex: Example) -> np.ndarray:  # noqa: ANN001
    """Independently: the full forward's log-softmax at every position, read at the answer tokens."""
    enc = encode(tokenizer, ex)
    ids = torch.tensor([enc.input_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    a = enc.n_answer_tokens
    t = ids.shape[1]
    return np.array([float(logp[t - a - 1 + j, enc.input_ids[t - a + j]]) for j in range(a)])


def test_two_runs_side_by_side_in_the_runs_tab(app_tiny) -> None:
    list(_run("grad_diff", steps=2, lr=5e-2))
    list(_run("npo", steps=2, lr=5e-2))
    runs = [r["dir"] for r in list_runs()]  # newest first: npo (on the model now), grad_diff
    active = STORE.active_run().run_dir
    weights = {n: p.detach().clone() for n, p in STORE.require().model.named_parameters()}
    picker, note = tabs.side_items_ui(runs)
    assert "harry_potter:known" in note and picker["value"] == "0"
    req = SimpleNamespace(session_hash="side")
    *progress, (msg, rows, strips, topk) = tabs.side_by_side_ui(runs, "1", 8, req)
    assert any("run 2 / 2" in p[0] for p in progress), "a line per model as it goes"
    assert "2 runs" in msg and "computed in" in msg
    assert [r[0] for r in rows][0].startswith("before") and len(rows) == 3
    assert all("→" in r[2] for r in rows[1:]) and rows[0][2] == ""  # each run's forget P̃ from its record
    assert np.asarray(strips.data[0].z, dtype=float).shape[0] == 3 and len(topk.data) == 3
    assert STORE.active_run().run_dir == active, "the run that was on the model is back"
    now = dict(STORE.require().model.named_parameters())
    assert all(torch.equal(now[n], w) for n, w in weights.items())
    # the npo run (on the model now) row against a direct full forward
    lm = STORE.require()
    from unlearn.data.set_refs import load_set

    ex = [e for e in load_set("harry_potter:known") if e.is_qa][1]
    s = runs_side_by_side_views(lm, runs, ex)
    np.testing.assert_allclose(s.views[1].gold_logprob, _gold_logprob(lm.model, lm.tokenizer, ex), atol=1e-5)
    with STORE.before():
        np.testing.assert_allclose(s.views[0].gold_logprob, _gold_logprob(lm.model, lm.tokenizer, ex), atol=1e-5)
    assert not np.allclose(s.views[1].gold_logprob, s.views[2].gold_logprob)  # two runs, two answers
    for bad, match in (([runs[0]], "Pick 2 to 6"), (runs, "Pick an item")):
        out = list(tabs.side_by_side_ui(bad, None if match == "Pick an item" else "0", 8, req))
        assert out[-1][0].startswith("❌") and match in out[-1][0], out[-1][0]


def runs_side_by_side_views(lm, runs: list[str], ex: Example) -> SideBySide:  # noqa: ANN001
    from unlearn.model import pair

    with pair.without_run() as plain:
        assert plain is lm
        return runs_side_by_side(lm, runs, ex)


def test_bad_picks_are_refused_before_the_model_is_touched(tiny) -> None:
    ex = Example("Who wrote it?", "Anna Berg.")
    with pytest.raises(UserError, match="2 to 6"):
        runs_side_by_side(tiny, ["a"], ex)
    with pytest.raises(UserError, match="passage"):
        runs_side_by_side(tiny, ["a", "b"], Example("", "a passage"))
    with pytest.raises(UserError, match="not a saved run"):
        runs_side_by_side(tiny, ["/no/such/a", "/no/such/b"], ex)


def test_the_biggest_drop_and_the_figures() -> None:
    tokens = ["Anna", " Berg", "."]
    before = View("before", "Anna Berg.", np.array([-1.0, -0.5, -0.2]), [["A"]] * 3, np.ones((3, 1)))
    a = View("r1 (npo)", "I do not know.", np.array([-1.5, -4.0, -0.3]), [["B"]] * 3, np.ones((3, 1)), {"x": 1})
    b = View("r2 (rmu)", "", np.array([-6.0, -0.6, -0.2]), [["C"]] * 3, np.ones((3, 1)), {})
    s = SideBySide(Example("Who?", "Anna Berg."), tokens, [before, a, b])
    assert s.biggest_drop() == 0  # r2 lost 5 nats on "Anna", more than r1's 3.5 on " Berg"
    fig = side_strips(tokens, ["before", "r1", "r2"], [v.gold_logprob for v in s.views], 0)
    np.testing.assert_allclose(np.asarray(fig.data[0].z), [[-1.0, -0.5, -0.2], [-1.5, -4.0, -0.3], [-6.0, -0.6, -0.2]])
    assert fig.layout.shapes[0].x0 == -0.5 and fig.layout.shapes[0].x1 == 0.5
    top = side_topk(["before", "r1", "r2"], [(["Anna", "The"], np.array([0.7, 0.2]))] * 3, "Anna", "Who?")
    assert list(top.data[0].marker.color)[0] != list(top.data[0].marker.color)[1]  # the gold token stands out
    figures = {"forget_prob_before": 0.5, "forget_prob_after": 0.01, "remind_auc": 0.71}
    rows = side_rows(["before", "r1"], ["Anna Berg.", ""], [{}, figures])
    assert rows[0][1:] == ["Anna Berg.", "", "", ""]
    assert rows[1] == ["r1", "(no text)", "0.500 → 0.010", "—", "REMIND AUC 0.71"]
    assert side_rows(["r"], ["x"], [{"forget_prob_before": 0.1}])[0][-1] == "not audited"


def test_the_run_picked_above_joins_the_side_by_side_picker() -> None:
    from ui.runs_tab.side_by_side import add_to_side

    assert add_to_side("r2", ["r1"])["value"] == ["r1", "r2"]
    assert add_to_side("r1", ["r1"])["value"] == ["r1"] and add_to_side(None, None)["value"] == []
    full = [f"r{i}" for i in range(6)]
    assert "value" not in add_to_side("r9", full)  # six already: a warning, the picker as it is
