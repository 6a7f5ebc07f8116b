"""ReVa: RMU toward a refusal direction, so the model answers forget questions the way it answers
questions nobody could answer, instead of babbling.

L = mse(h_l^θ(x_f), c·r) + α·mse(h_l^θ(x_r), h_l^θ₀(x_r)), with r the unit mean of the hidden state
at layer l at the last prompt token over ~20 unanswerable questions (assets/unanswerable.txt),
measured on the model before, in place of RMU's random u.

arXiv 2605.08765 (code: OPTML-Group/ReVa). Implemented from the spec's description (methods.md)
and not checked line by line against the authors' code, so marked a reconstruction. The scale c
is read as in RMU (a multiple of the model's mean ‖h_l‖ in the quick preset).
"""

from __future__ import annotations

import torch

from unlearn.data.examples import Example
from unlearn.model.paths import ASSETS
from unlearn.train.methods.registry import MethodInfo, register
from unlearn.train.methods.rmu import RMU, RMUConfig

QUESTIONS = ASSETS / "unanswerable.txt"


def unanswerable_questions() -> list[str]:
    return [q.strip() for q in QUESTIONS.read_text(encoding="utf-8").splitlines() if q.strip()]


@register
class ReVa(RMU):
    info = MethodInfo(
        id="reva",
        name="ReVa",
        paper="ReVa, refusal-aligned representations (arXiv 2605.08765; code OPTML-Group/ReVa)",
        summary="RMU whose target is the direction the model's layer-l states take on unanswerable questions: "
        "forget questions are pushed to look unanswerable, so the model declines instead of babbling.",
        needs_retain=True,
        faithful=False,
        subset=RMU.info.subset,
        subset_label="the MLP down_proj weights of layers l−2..l",
        lr=RMU.info.lr,
        paper_lr=RMU.info.paper_lr,
    )
    Config = RMUConfig

    def direction(self, d: int, device: torch.device) -> torch.Tensor:
        """Unit mean of h_l at the last prompt token of the unanswerable questions, model before: (d,)."""
        if self.ctx.encode is None:
            raise ValueError("ReVa needs an encoder: run it through the engine")
        batch = self.ctx.encode([Example(q, "") for q in unanswerable_questions()])
        with torch.no_grad(), self.ctx.reference():
            h = self.hidden(batch).float()  # (B, T, d)
        last = batch["attention_mask"].sum(1) - 1  # (B,) right padding: the last real token
        mean = h[torch.arange(h.shape[0], device=h.device), last].mean(0)  # (d,)
        return (mean / mean.norm()).to(device)
