"""The "teach" step: fine-tune the model on a set so there is memorised knowledge to unlearn.

TOFU's setting: invented facts no model can know are taught to it (forget + retain authors),
while the holdout authors stay never seen. The taught model is cached like a converted model,
keyed by the base model, the exact items and the settings, so a demo pays for teaching once.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from unlearn.data.batching import encode_batch
from unlearn.data.builtin import load_selection
from unlearn.data.examples import Example
from unlearn.errors import UserError
from unlearn.model.devices import split_refusal
from unlearn.model.forward import answer_logits
from unlearn.model.models import LoadedModel, ModelSource, Progress, load_model
from unlearn.model.paths import atomic_dir, cache_dir
from unlearn.serve.eta import eta_line
from unlearn.settings import setting
from unlearn.train.loop import LoopConfig, StepInfo, cycle_batches, train_loop
from unlearn.train.losses import mean_nll

TAUGHT_INFO = "taught.json"


@dataclass
class TeachConfig:
    epochs: float = setting(6.0, "Epochs", "passes over the taught items and the replay items", lo=1, hi=30)
    lr: float = setting(7e-5, "Learning rate", "AdamW, every decoder layer")
    batch_size: int = setting(8, "Batch size", "examples per step", lo=1)
    max_length: int = 192  # tokens per example
    seed: int = setting(0, "Seed", "the order of the batches")
    # Items mixed into teaching so the model keeps answering ordinary questions in its own style:
    # without them, ten epochs of invented biographies cost it half of general_knowledge.
    replay: str | None = setting(
        "general_knowledge:train", "Replay set", "a set mixed in to keep general knowledge ('' for none)"
    )
    # The tied embedding / unembedding matrix (a fifth of SmolLM2) stays frozen: it drifts the
    # whole vocabulary for a few dozen facts, and its optimizer state is the largest.
    train_embeddings: bool = False

    def loop_config(self) -> LoopConfig:
        return LoopConfig(
            lr=self.lr,
            epochs=self.epochs,
            batch_size=self.batch_size,
            max_length=self.max_length,
            seed=self.seed,
            warmup=2,
        )


def teach_key(lm: LoadedModel, examples: list[Example], cfg: TeachConfig) -> str:
    """Cache key: base model, the exact items (question + answer) and the settings."""
    blob = json.dumps(
        {
            "base": lm.source.ref if lm.source.kind != "local" else lm.path,
            "taught": lm.taught,
            "items": [[e.question, e.answer] for e in examples],
            "cfg": asdict(cfg),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def taught_folder(lm: LoadedModel, examples: list[Example], cfg: TeachConfig) -> Path:
    return cache_dir() / "taught" / teach_key(lm, examples, cfg)


def nll_loss_fn(lm: LoadedModel, max_length: int) -> Callable[[list[Example]], tuple[torch.Tensor, dict[str, float]]]:
    """Plain supervised fine-tuning on answer tokens, ending with EOS so the model learns to stop."""

    def loss_fn(batch: list[Example]) -> tuple[torch.Tensor, dict[str, float]]:
        b = encode_batch(batch, lm.tokenizer, max_length, lm.device, add_eos=True)
        loss = mean_nll(*answer_logits(lm.model, b))  # = HF `outputs.loss`, head on the answers only
        return loss, {"loss": float(loss.detach())}

    return loss_fn


def teach(
    lm: LoadedModel,
    examples: list[Example],
    set_name: str,
    cfg: TeachConfig | None = None,
    progress: Progress | None = None,
    on_step: Callable[[StepInfo], Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> LoadedModel:
    """Return a model that has learnt `examples`: from the cache when taught before, else by
    fine-tuning `lm` in place and saving it. `lm` must not be used afterwards either way."""
    if lm.split:
        raise UserError(split_refusal("teach"))
    cfg = cfg or TeachConfig()
    folder = taught_folder(lm, examples, cfg)
    seen = {e.question for e in examples}
    replay = [e for e in load_selection(cfg.replay).examples if e.question not in seen] if cfg.replay else []
    info = {
        "set": set_name,
        "items": len(examples),
        "replay_items": len(replay),
        "base": lm.name,
        "base_ref": lm.source.ref,
        **asdict(cfg),
    }
    if not (folder / TAUGHT_INFO).is_file():
        loop_cfg = cfg.loop_config()
        mix = examples + replay
        total = loop_cfg.total_steps(len(mix))
        lm.model.train()
        embeddings = {id(lm.model.get_input_embeddings().weight), id(lm.model.get_output_embeddings().weight)}
        trained = [p for p in lm.model.parameters() if cfg.train_embeddings or id(p) not in embeddings]
        for p in trained:
            p.requires_grad_(True)

        t0 = time.perf_counter()

        def report(s: StepInfo) -> None:
            if progress:
                left = eta_line("steps", s.step, total, t0)
                progress(s.step / total, f"Teaching {set_name}: {left} · loss {s.logs['loss']:.3f}")
            if on_step:
                on_step(s)

        try:
            result = train_loop(
                trained,
                nll_loss_fn(lm, cfg.max_length),
                cycle_batches(mix, cfg.batch_size, cfg.seed),
                loop_cfg,
                total,
                lm.device,
                on_step=report,
                should_stop=should_stop,
            )
        finally:
            lm.model.eval()
            for p in lm.model.parameters():
                p.requires_grad_(False)
        if result.cancelled:
            raise InterruptedError("teaching was cancelled; the model in memory is half-taught: load it again")
        info.update(final_loss=result.history[-1]["loss"], seconds=round(result.seconds, 1), steps=result.steps_done)
        with atomic_dir(folder) as tmp:
            lm.model.save_pretrained(tmp, safe_serialization=True)
            lm.tokenizer.save_pretrained(tmp)
            (tmp / TAUGHT_INFO).write_text(json.dumps(info, indent=1))
        # the fine-tuned weights are already in memory: no need to read them back
        return replace(
            lm,
            source=ModelSource("local", str(folder)),
            path=str(folder),
            name=f"{info['base']} + taught {set_name}",
            taught=info,
        )
    return load_taught(folder, device=str(lm.device))


def load_taught(folder: Path, device: str | None = None) -> LoadedModel:
    """Load a taught model from its cache folder, with its provenance for the model card."""
    info = json.loads((folder / TAUGHT_INFO).read_text())
    taught = load_model(str(folder), device=device)
    taught.name = f"{info['base']} + taught {info['set']}"
    taught.taught = info
    return taught
