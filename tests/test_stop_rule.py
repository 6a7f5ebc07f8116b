"""Audit along a run: the stop rule (forget low enough, or retain about to fall too far) and the steps
a run keeps (`save_every`), saved, put back on the model, and audited from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from unlearn.__main__ import main
from unlearn.data.builtin import load_selection
from unlearn.data.workspace import split_retain
from unlearn.model.models import LoadedModel, load_model
from unlearn.model.scoring import answer_nll, set_prob
from unlearn.train.engine import RunSpec, run_unlearning
from unlearn.train.loop import LoopConfig
from unlearn.train.runs import apply_run, checkpoint_file, run_ref, save_run, split_ref
from unlearn.train.stop_rule import StopRule, StopWatch

FORGET = load_selection("harry_potter:known").examples
RETAIN_TRAIN, RETAIN_EVAL = split_retain(load_selection("general_knowledge").examples[:12])


def test_the_step_that_breaks_the_retain_rule_is_undone_exactly() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    w = StopWatch(StopRule(retain_share=0.9), [p], forget_before=0.5, retain_before=1.0)
    with torch.no_grad():
        p.add_(0.5)  # step 1: retain 0.95 ≥ 0.9 × 1.0, kept
    assert w.after_step(1, forget=0.4, retain=0.95) is None
    with torch.no_grad():
        p.add_(10.0)  # step 2: retain 0.85 < 0.9: undone, back to the values after step 1
    assert w.after_step(2, forget=0.1, retain=0.85) == "retain"
    assert p.tolist() == [1.5, 2.5] and w.should_stop() and w.stopped["undone"]
    assert "undone" in w.describe() and "after step 1" in w.describe()
    with pytest.raises(ValueError, match="at most 1"):
        StopRule(forget_share=1.5).check(True)
    with pytest.raises(ValueError, match="needs a retain set"):
        StopRule(retain_share=0.9).check(False)


def _probs(lm: LoadedModel) -> tuple[float, float]:
    forget, retain = (answer_nll(lm.model, lm.tokenizer, items) for items in (FORGET, RETAIN_EVAL))
    return set_prob(forget), set_prob(retain)


def test_a_run_with_the_retain_rule_ends_with_retain_kept(tiny: LoadedModel) -> None:
    # gradient ascent at a high learning rate takes the random tiny model's retain P̃ to about 0.885 of
    # before within 12 steps, and no further at higher rates or more steps: the kept share is set well
    # above that, so the run without the rule crosses it whatever the float rounding of the kernels
    keep = 0.95
    loop = LoopConfig(lr=1e-1, steps=12, batch_size=2)
    plain = run_unlearning(tiny, RunSpec("ga", mode="lora", loop=loop, eval_every=0), FORGET, [], RETAIN_EVAL)
    m = plain.metrics
    assert m["retain_prob_after"] < keep * m["retain_prob_before"]  # without the rule: retain falls too far
    plain.trainable.reset()
    spec = RunSpec("ga", mode="lora", loop=loop, keep_retain=keep, save_every=1)
    out = run_unlearning(tiny, spec, FORGET, [], RETAIN_EVAL)
    m = out.metrics
    assert m["retain_prob_after"] >= keep * m["retain_prob_before"]
    assert out.stop["rule"] == "retain" and out.stop["undone"] and not out.cancelled
    assert len(out.history) == out.stop["step"] - 1 == m["stopped_at_step"] - 1
    assert set(out.checkpoints) == set(range(1, out.stop["step"]))  # no checkpoint of the undone step
    kept = out.checkpoints[max(out.checkpoints)] if out.checkpoints else None
    if kept is not None:  # the model holds exactly the weights of the last step kept
        for name, tensor in out.trainable.changed().items():
            assert torch.equal(tensor, kept[name]), name
    assert _probs(tiny)[1] == pytest.approx(m["retain_prob_after"])


def test_a_run_with_the_forget_rule_stops_at_the_first_step_low_enough(tiny: LoadedModel) -> None:
    # the random tiny model's P̃ is near 1/V: gradient ascent takes it to 85% of before in a few steps
    loop = LoopConfig(lr=1e-2, steps=30, batch_size=2)
    out = run_unlearning(tiny, RunSpec("ga", mode="full", loop=loop, stop_forget=0.85), FORGET, [], RETAIN_EVAL)
    m = out.metrics
    assert out.stop["rule"] == "forget" and 1 < len(out.history) == out.stop["step"] < 30
    assert m["forget_prob_after"] <= 0.85 * m["forget_prob_before"]
    assert all(h["forget_prob"] > 0.85 * m["forget_prob_before"] for h in out.history[:-1])  # not earlier
    assert out.history[-1]["forget_prob"] == pytest.approx(m["forget_prob_after"])  # the whole set, as the rule reads


def test_kept_steps_are_saved_put_back_and_audited(tiny_dir: Path, tmp_path: Path, capsys) -> None:
    lm = load_model(str(tiny_dir), device="cpu")
    spec = RunSpec("grad_diff", mode="lora", loop=LoopConfig(lr=1e-2, steps=4, batch_size=2), save_every=2)
    out = run_unlearning(lm, spec, FORGET, RETAIN_TRAIN, RETAIN_EVAL)
    assert sorted(out.checkpoints) == [2, 4]
    # each kept step is its own copy: the optimizer kept moving the weights after step 2
    at_end = out.trainable.changed()
    assert any(not torch.equal(out.checkpoints[2][n], out.checkpoints[4][n]) for n in at_end)
    assert all(torch.equal(out.checkpoints[4][n], t) for n, t in at_end.items())
    live = dict(lm.model.named_parameters())
    assert all(out.checkpoints[2][n].data_ptr() != live[n].data_ptr() for n in at_end)
    run_dir = save_run(out, lm, {"forget": "harry_potter:known", "retain": "general_knowledge"}, root=tmp_path)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["checkpoints"] == [2, 4] and checkpoint_file(run_dir, 2).is_file()
    at2 = out.checkpoints[2]
    fresh = load_model(str(tiny_dir), device="cpu")
    tr = apply_run(fresh, run_dir, 2)
    for name, tensor in tr.changed().items():
        assert torch.equal(tensor, at2[name]), name
    tr.reset()
    with pytest.raises(ValueError, match="kept no weights at step 3; the steps it kept: 2, 4"):
        apply_run(fresh, run_dir, 3)
    assert split_ref(run_ref(run_dir, 2)) == (str(run_dir), 2) and split_ref(str(run_dir)) == (str(run_dir), None)
    args = ["audit", "--run", run_ref(run_dir, 2), "--items", "3", "--neighbours", "2", "--surfaces", "0"]
    args += ["--probe-items", "0", "--no-relearn", "--holdout", "fictitious_authors:holdout", "--no-utility-sets"]
    assert main([*args, "--no-gradnorm", "--quantize", "--json"]) == 0
    got = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert got["step"] == 2 and Path(got["audit_json"]).name == "audit-step-000002.json"
    assert not (run_dir / "audit.json").exists()  # the run's end has no audit yet: the step's is apart


def test_the_solar_system_sets_read_from_files(tmp_path: Path, capsys) -> None:
    # the files a new user would upload (plain question-answer JSON Lines) load on the command line too
    data = Path(__file__).parent / "data"
    from unlearn.data.set_refs import load_set

    assert len(load_set(str(data / "solar_system.jsonl"))) == 16
    assert len(load_set(str(data / "general_facts.jsonl"))) == 20
    assert main(["run", "--forget", str(data / "missing.jsonl"), "--steps", "1"]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    from unlearn.data.set_refs import set_name

    # a run records a data file by its absolute path, so an audit started elsewhere finds it
    assert set_name("tests/data/solar_system.jsonl") == str((data / "solar_system.jsonl").resolve())
    assert set_name("harry_potter:known") == "harry_potter:known" and set_name("") == ""
