"""Activation patching before <-> after (issue 20): patching nothing gives after's answer
log-probability, patching every layer's attention and MLP outputs with before's gives before's, the
last layer's residual stream at every position gives before's, one row's patch stays in its row, and
the model is left bit for bit as it was."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.inspection.patching import GROUPS, _logp, patch_item, patched, recorded, set_mean, set_summary
from unlearn.train.params import make_trainable

ITEM = Example("Who wrote the red book about the old harbour town?", "Anna Berg wrote it in the spring.")


def _run(lm):  # noqa: ANN001, ANN202
    """A LoRA "run" on the tiny model: adapters moved off zero, so after differs from before."""
    torch.manual_seed(0)
    tr = make_trainable(lm.model, "lora", None, 4)
    with torch.no_grad():
        for p in tr.params:
            p.add_(torch.randn_like(p) * 0.3)
    return tr


def test_patching_every_layer_gives_before_and_none_gives_after(tiny) -> None:
    tr = _run(tiny)
    out = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference)
    assert abs(out.logp_before - out.logp_after) > 0.05  # the run changed the answer's probability
    # all attention and MLP outputs of every layer are before's: the residual stream is before's (LoRA
    # leaves the embeddings and the final norm alone), so the answer is as likely as before
    assert out.cumulative[-1] == pytest.approx(1.0, abs=1e-4)
    # the last layer's residual stream at every position is before's output as the head reads it
    last = out.recovery[out.components.index("residual"), GROUPS.index("all"), -1]
    assert last == pytest.approx(1.0, abs=1e-4)
    # ... and in the other direction after's brings after's back: the whole drop
    assert out.reverse[out.components.index("residual"), GROUPS.index("all"), -1] == pytest.approx(1.0, abs=1e-4)
    assert out.layers_for_half() is not None and 0 < out.layers_for_half() <= 1
    assert np.isfinite(out.best_layer_recovery())


def test_patching_nothing_is_the_after_model_and_rows_stay_apart(tiny) -> None:
    tr = _run(tiny)
    from unlearn.data.prompts import encode

    enc = encode(tiny.tokenizer, ITEM)
    ids = torch.tensor([enc.input_ids])
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": torch.tensor([enc.labels])}
    with torch.no_grad():
        with tr.reference(), recorded(tiny.model, ["mlp"]) as before:
            lp_before = float(_logp(tiny.model, batch)[0])
        lp_after = float(_logp(tiny.model, batch)[0])
        rows = {k: v.expand(3, -1) for k, v in batch.items()}
        every = torch.ones(3, ids.shape[1], dtype=torch.bool)
        # row 0 patches nothing, row 1 layer 0's MLP, row 2 both layers' MLPs
        with patched(tiny.model, before, [[], [("mlp", 0)], [("mlp", 0), ("mlp", 1)]], every):
            got = _logp(tiny.model, rows).tolist()
    assert got[0] == pytest.approx(lp_after, abs=1e-5)  # an unpatched row is the after model
    assert got[1] != pytest.approx(lp_after, abs=1e-4) and got[1] != pytest.approx(got[2], abs=1e-4)
    assert lp_before != pytest.approx(lp_after, abs=1e-3)


def test_the_model_is_left_as_it_was(tiny) -> None:
    tr = _run(tiny)
    weights = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}  # the adapters too
    hooks = sum(len(m._forward_hooks) for m in tiny.model.modules())
    ids = torch.tensor([[5, 6, 7, 8]])
    with torch.no_grad():
        plain = tiny.model(input_ids=ids).logits
    out = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, max_rows=5)
    assert out.recovery.shape == (3, 3, 2)
    now = dict(tiny.model.named_parameters())
    assert now.keys() == weights.keys() and all(torch.equal(now[n], w) for n, w in weights.items())
    assert sum(len(m._forward_hooks) for m in tiny.model.modules()) == hooks
    with torch.no_grad():
        assert torch.equal(tiny.model(input_ids=ids).logits, plain)  # bit for bit


def test_set_summary_and_bad_input(tiny) -> None:
    tr = _run(tiny)
    a = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, components=["mlp"], groups=["all"])
    s = set_summary([a, a])
    assert s["items"] == 2 and s["best_layer_recovery"] == pytest.approx(a.best_layer_recovery())
    with pytest.raises(UserError, match="passage"):
        patch_item(tiny.model, tiny.tokenizer, Example("", "a passage"), tr.reference)
    with pytest.raises(UserError, match="unknown"):
        patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, components=["heads"])


def test_the_patch_command_prints_each_item_and_the_set(tiny_dir, tmp_path, capsys, monkeypatch) -> None:
    import json

    import viz.scaling
    from unlearn.__main__ import main

    monkeypatch.setattr(viz.scaling, "render_png", lambda fig, path: False)  # Chromium's PNG: test_bench_scaling

    args = ["run", "--model", str(tiny_dir), "--device", "cpu", "--forget", "fictitious_authors:forget"]
    args += ["--retain", "fictitious_authors:retain", "--method", "npo", "--steps", "2", "--batch-size", "2"]
    args += ["--lr", "0.05"]  # a large step, so the tiny model's answers move
    assert main([*args, "--out", str(tmp_path), "--json"]) == 0
    run_dir = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_dir"]
    plots = tmp_path / "plots"
    cmd = ["patch", "--run", run_dir, "--items", "2", "--groups", "all", "answer", "--plot", str(plots), "--json"]
    assert main(cmd) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1], parse_constant=lambda c: pytest.fail(c))
    assert out["set"] == "fictitious_authors:forget" and out["items"] == 2 and out["layers"] == 2
    assert len(out["per_item"]) == 2
    item = out["per_item"][0]
    assert set(item["recovery"]) == {"residual", "attention", "mlp"}
    assert set(item["recovery"]["mlp"]) == {"all", "answer"}
    assert len(item["recovery"]["mlp"]["all"]) == 2 and len(item["layer_recovery"]) == 2
    # the last layer's residual stream at every position is before's: the whole answer comes back
    assert item["recovery"]["residual"]["all"][-1] == pytest.approx(1.0, abs=1e-3)
    assert {"best_layer_recovery", "layers_for_half", "reach_half", "recovery_mean"} <= out.keys()
    assert {Path(f).name for f in out["plots"]} >= {"patching_heatmap.html", "patching_curves.html"}
    assert "mean of 2 items" in (plots / "patching_heatmap.html").read_text()
    with pytest.raises(SystemExit):  # argparse names the choices
        main(["patch", "--run", run_dir, "--components", "heads"])
    assert "invalid choice: 'heads'" in capsys.readouterr().err
    passages = tmp_path / "passages.txt"
    passages.write_text("The harbour town keeps a ledger.\nEvery ship is written in it.\n")
    assert main(["patch", "--run", run_dir, "--set", str(passages)]) == 2  # no questions to patch
    assert "no question-answer items" in capsys.readouterr().err


def test_an_item_the_run_left_unchanged_has_no_shares(tiny) -> None:
    """LoRA adapters at their start (B = 0): after is before, and a share of a zero change would be
    rounding; the figures are NaN / None, and the set's summary counts no item."""
    tr = make_trainable(tiny.model, "lora", None, 4)
    out = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, components=["mlp"], groups=["all"])
    assert np.isnan(out.recovery).all() and np.isnan(out.best_layer_recovery()) and out.layers_for_half() is None
    assert set_summary([out])["best_layer_recovery"] is None and set_summary([out])["reach_half"] == 0.0


def test_progress_counts_every_row_and_the_set_mean_skips_unchanged_items(tiny) -> None:
    tr = _run(tiny)
    seen: list[tuple[int, int]] = []
    kw = dict(components=["mlp"], groups=["all", "answer"], max_rows=3)
    a = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, progress=lambda d, t: seen.append((d, t)), **kw)
    # 1 component × 2 groups × 2 layers per direction, both directions, then 2 single and 2 cumulative rows
    assert seen[-1] == (12, 12) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) > 4
    other = Example("Where does Anna Berg live?", "She lives by the old harbour.")
    b = patch_item(tiny.model, tiny.tokenizer, other, tr.reference, **kw)
    m = set_mean([a, b])
    np.testing.assert_allclose(m.recovery, (a.recovery + b.recovery) / 2)
    np.testing.assert_allclose(m.cumulative, (a.cumulative + b.cumulative) / 2)
    assert m.logp_before == pytest.approx((a.logp_before + b.logp_before) / 2)
    unchanged = patch_item(tiny.model, tiny.tokenizer, ITEM, lambda: torch.no_grad(), **kw)  # before is after
    assert np.isnan(unchanged.recovery).all()
    np.testing.assert_allclose(set_mean([a, unchanged]).recovery, a.recovery)  # NaN cells left out of the mean
    with pytest.raises(UserError, match="no items"):
        set_mean([])


def test_rows_started_at_their_lowest_patched_layer_give_the_full_forwards_figures(tiny, monkeypatch) -> None:
    """Skipping the layers below a row's patch is exact: the same figures as every row run from the
    embeddings; a model where a half-way start does not reproduce its forward falls back to that."""
    import unlearn.inspection.patching as patching

    tr = _run(tiny)
    full = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, max_rows=4, skip=False)
    fast = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, max_rows=4)
    for name in ("recovery", "reverse", "single", "cumulative"):
        np.testing.assert_allclose(getattr(fast, name), getattr(full, name), atol=1e-6, err_msg=name)
    held, guard, start = [], patching.skipping_holds, patching.starting_at
    monkeypatch.setattr(patching, "skipping_holds", lambda *a: held.append(True) or True)
    # a wrong start (one layer too late) is caught by the figures, not only by the guard
    monkeypatch.setattr(patching, "starting_at", lambda model, first: start(model, first + 1))
    wrong = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, max_rows=4)
    assert held and not np.allclose(wrong.recovery, full.recovery, atol=1e-4)
    monkeypatch.setattr(patching, "skipping_holds", guard)
    guarded = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, max_rows=4)  # the guard sees the wrong start
    np.testing.assert_allclose(guarded.recovery, full.recovery, atol=1e-6)


def test_a_full_run_patches_as_a_lora_run_does(tiny) -> None:
    """Tensors swapped in place (full and subset runs, imported checkpoints) instead of adapters: the
    same end points (every layer's outputs give before's answer, the last residual stream at all tokens
    too) and the model back bit for bit."""
    torch.manual_seed(1)
    original = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    tr = make_trainable(tiny.model, "full", None, 4)
    with torch.no_grad():
        for p in tr.params:
            if p.dim() == 2 and p.shape[0] != tiny.model.config.vocab_size:  # the decoder's matrices
                p.add_(torch.randn_like(p) * 0.05)
    changed = {n: p.detach().clone() for n, p in tiny.model.named_parameters()}
    out = patch_item(tiny.model, tiny.tokenizer, ITEM, tr.reference, groups=["all"])
    assert abs(out.logp_before - out.logp_after) > 0.05
    assert out.cumulative[-1] == pytest.approx(1.0, abs=1e-4)
    assert out.recovery[out.components.index("residual"), 0, -1] == pytest.approx(1.0, abs=1e-4)
    now = dict(tiny.model.named_parameters())
    assert all(torch.equal(now[n], w) for n, w in changed.items())  # after, as it was
    tr.reset()
    assert all(torch.equal(p, original[n]) for n, p in tiny.model.named_parameters())
