"""TEMPLATE: copy to unlearn/train/methods/<your_id>.py, then fill in what says TODO.

One line on what the method optimises, its loss written out, and the paper it comes from (with its arXiv
id). If the paper leaves details out and you filled them in, set `faithful=False`: the app and the
README then mark the method a reconstruction.
"""

from __future__ import annotations

from dataclasses import dataclass

from unlearn.train.losses import mean_nll
from unlearn.train.methods.common import retain_loss
from unlearn.train.methods.registry import Method, MethodInfo, StepBatch, hp, register


@dataclass
class TemplateConfig:
    # each hyperparameter: hp(quick-demo value, paper value, meaning); the app's table and `--hp NAME=VALUE`
    # are generated from these
    alpha: float = hp(1.0, 1.0, "weight of the retain term")  # TODO: your hyperparameters


@register  # without it the app refuses to start: unlearn/train/methods/__init__.py checks every file
class TemplateMethod(Method):
    info = MethodInfo(
        id="template",  # TODO: the id used by `--method` and the app; the file's name by convention
        name="Template method",  # TODO: the name shown in the app
        paper="Author et al. 2025, Title (arXiv 0000.00000)",  # TODO
        summary="What it pushes down or up, in one or two sentences.",  # TODO
        needs_retain=False,
        faithful=True,
        lr=1e-3,  # quick-demo learning rate that works on the bundled model (measure it)
    )
    Config = TemplateConfig

    def terms(self, b: StepBatch):
        """The forget part and the retain part of the loss on one micro-batch, each already weighted, and
        what to log. `b.forget` / `b.retain` are the padded batches (`b.retain` None without a retain set),
        `b.forget_examples` / `b.retain_examples` the examples behind them, `b.step` the optimizer step."""
        lf = mean_nll(*self.ctx.answer_logits(b.forget))  # TODO: your forget loss
        lr = retain_loss(self.ctx, b.retain)  # zero when the run has no retain set
        return -lf, self.cfg.alpha * lr, {"forget_nll": lf.item(), "retain_loss": lr.item()}
