"""Several runs side by side on one item (issue 20): which method did better on the same question.

For the model as loaded ("before") and each run's after model, in turn on the one shared model: the
greedy answer, the gold answer's per-token log-probability and the top-k next tokens at every answer
position, from one forward (the vocabulary head on the answer positions only). The view then points at
one position for every model: the answer token whose log-probability fell most under any run.

Each run's own figures come from its files, not recomputed: forget and retain P̃ before and after
(run.json) and its audit's headline where it was audited (audit.json).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from unlearn.audit.audit_record import load_audit
from unlearn.data.examples import Example
from unlearn.data.prompts import encode
from unlearn.errors import UserError
from unlearn.inspection.compare import Decoding, generate
from unlearn.model.forward import accepts_logits_to_keep
from unlearn.model.models import LoadedModel
from unlearn.train.runs import RUN_FILE, apply_run

MIN_RUNS, MAX_RUNS = 2, 6
TOP_K = 5
# the audit figures a row shows where the run was audited (summary keys), in the order shown
AUDIT_KEYS = ("remind_auc", "loss_auc_after", "model_utility_after", "retain_utility_after")


@dataclass
class View:
    """One model's view of the item."""

    label: str  # "before (the model as loaded)" or "run ID (method)"
    generation: str
    gold_logprob: np.ndarray  # (A,) log p of each gold answer token
    top_tokens: list[list[str]]  # (A, k) the most likely tokens where each answer token is predicted
    top_probs: np.ndarray  # (A, k)
    figures: dict[str, Any] = field(default_factory=dict)  # the run's own: P̃ before/after, audit headline


@dataclass
class SideBySide:
    example: Example
    tokens: list[str]  # (A,) the gold answer's tokens
    views: list[View]  # before first, then the runs in the order asked

    def biggest_drop(self) -> int:
        """The answer token whose log-probability fell most under any run (0 for an empty answer)."""
        if not self.tokens or len(self.views) < 2:
            return 0
        before = self.views[0].gold_logprob
        drops = np.stack([v.gold_logprob - before for v in self.views[1:]])  # (R, A)
        return int(np.unravel_index(np.argmin(drops), drops.shape)[1])


@torch.no_grad()
def answer_view(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ex: Example, k: int = TOP_K
) -> tuple[list[str], np.ndarray, list[list[str]], np.ndarray]:
    """The gold answer's tokens, their log-probabilities (A,) and the top-k at each (A, k)."""
    enc = encode(tokenizer, ex)
    ids = torch.tensor([enc.input_ids], device=next(model.parameters()).device)
    a = enc.n_answer_tokens
    keep = {"logits_to_keep": a + 1} if accepts_logits_to_keep(model) else {}
    logits = model(input_ids=ids, **keep).logits[0, -a - 1 : -1].float()  # positions predicting the answer
    logp = torch.log_softmax(logits, -1)
    gold = logp.gather(-1, ids[0, -a:].unsqueeze(-1)).squeeze(-1)
    top = logp.topk(min(k, logp.shape[-1]), -1)
    tokens = [tokenizer.decode([i]) for i in enc.input_ids[-a:]] if a else []
    top_tokens = [[tokenizer.decode([j]) for j in row] for row in top.indices.tolist()]
    return tokens, gold.cpu().numpy(), top_tokens, top.values.exp().cpu().numpy()


def read_run(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((Path(run_dir) / RUN_FILE).read_text())
    except (OSError, ValueError) as e:
        raise UserError(f"{run_dir} is not a saved run (no readable {RUN_FILE}): pick another") from e


def run_figures(run_dir: Path) -> dict[str, Any]:
    """A run's forget / retain P̃ before and after (its record) and its audit headline (where audited)."""
    metrics = read_run(run_dir).get("metrics", {})
    out = {k: metrics.get(k) for k in ("forget_prob_before", "forget_prob_after", "retain_prob_before")}
    out["retain_prob_after"] = metrics.get("retain_prob_after")
    audit = load_audit(run_dir)
    if audit is not None:
        out |= {k: audit["summary"].get(k) for k in AUDIT_KEYS if audit["summary"].get(k) is not None}
    return out


def runs_side_by_side(
    lm: LoadedModel,
    run_dirs: Sequence[str],
    ex: Example,
    dec: Decoding | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> SideBySide:
    """The item under the model as it is now (no run on it: the caller makes sure) and under each run
    in turn; every run's weights are taken off again before the next (and on an error)."""
    if not MIN_RUNS <= len(run_dirs) <= MAX_RUNS:
        raise UserError(f"pick {MIN_RUNS} to {MAX_RUNS} runs to put side by side (got {len(run_dirs)})")
    if not ex.is_qa:
        raise UserError("side by side reads a question and its gold answer: this item is a passage")
    dec = dec or Decoding(32)
    records = {d: read_run(Path(d)) for d in run_dirs}
    other = [d for d, r in records.items() if r["model"]["ref"] != lm.source.ref]
    if other:
        raise UserError(f"{', '.join(Path(d).name for d in other)} was made on another model: load it first")

    tokens: list[str] = []

    def view(label: str, figures: dict[str, Any]) -> View:
        answer_tokens, gold, top_tokens, top_probs = answer_view(lm.model, lm.tokenizer, ex)
        tokens[:] = answer_tokens  # the same tokens under every model: the item's own
        answer = generate(lm.model, lm.tokenizer, ex.question, dec)
        return View(label, answer, gold, top_tokens, top_probs, figures)

    progress("before: the model as loaded")
    views = [view("before (the model as loaded)", {})]
    for i, d in enumerate(run_dirs, 1):
        r = records[d]
        progress(f"run {i} / {len(run_dirs)}: {Path(d).name} ({r['method']})")
        tr = apply_run(lm, Path(d))
        try:
            views.append(view(f"{Path(d).name} ({r['method']})", run_figures(Path(d))))
        finally:
            tr.reset()
    return SideBySide(ex, tokens, views)
