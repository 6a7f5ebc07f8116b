"""A run leaves the app as a standard model (issue 16).

`hf`: the after model as a `save_pretrained` folder (safetensors, config, tokenizer, a model card),
loadable by `AutoModelForCausalLM.from_pretrained` with no code of this project. A LoRA run is merged
(base + PEFT's own delta of each adapted matrix); a full or subset run's stored tensors replace the
base's. `peft`: a LoRA run's adapter as a PEFT folder, for `PeftModel.from_pretrained`.

The model must carry no run while exporting (`pair.without_run` sees to that in the app); it is left
exactly as it was: nothing is merged into its weights.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import torch
from peft.tuners.lora import LoraLayer
from safetensors.torch import load_file

from unlearn.audit.audit_record import load_audit
from unlearn.errors import UserError
from unlearn.model.models import LoadedModel
from unlearn.model.paths import atomic_dir
from unlearn.model.peft_adapter import write_adapter
from unlearn.train.methods import describe
from unlearn.train.params import ADAPTER, plain_state_dict
from unlearn.train.runs import RUN_FILE, WEIGHTS_FILE, apply_run, checkpoint_file

FORMATS = {"hf": "a save_pretrained model folder", "peft": "a PEFT LoRA adapter folder (LoRA runs)"}
CARD = "README.md"
# the audit figures a model card states, by the names the audit summary gives them
CARD_FIGURES = {
    "min_k_pp_auc_after": "Min-K%++ AUC after (forget vs holdout)",
    "loss_auc_after": "loss AUC after",
    "remind_auc": "REMIND AUC",
    "privleak_min_k": "PrivLeak (MUSE, Min-K%)",
    "model_utility_after": "model utility (TOFU)",
    "forget_quality": "forget quality (TOFU)",
    "relearn_recovery": "relearning recovery",
}


def _merged_lora(lm: LoadedModel, run_dir: Path, step: int | None) -> dict[str, torch.Tensor]:
    """Base + delta of every adapted matrix, computed by PEFT itself (scaling, rank and alpha patterns,
    fan-in-fan-out), on the CPU; the adapter is taken off again."""
    tr = apply_run(lm, run_dir, step)
    merged: dict[str, torch.Tensor] = {}
    try:
        for name, module in lm.model.named_modules():
            if not (isinstance(module, LoraLayer) and ADAPTER in module.lora_A):
                continue
            if module.use_dora.get(ADAPTER):
                raise UserError("a DoRA adapter has no plain merged form here: export it with --format peft")
            base = module.get_base_layer().weight.detach()
            with torch.no_grad():
                merged[f"{name}.weight"] = (base + module.get_delta_weight(ADAPTER)).to(base.dtype).cpu()
    finally:
        tr.reset()
    return merged


def after_state_dict(lm: LoadedModel, run_dir: Path, step: int | None = None) -> dict[str, torch.Tensor]:
    """The run's after model as a plain state dict: the loaded model's tensors, the run's in their place."""
    record = json.loads((Path(run_dir) / RUN_FILE).read_text())
    if record["trainable"] == "lora":
        changed = _merged_lora(lm, Path(run_dir), step)
    else:
        source = checkpoint_file(run_dir, step) if step is not None else Path(run_dir) / WEIGHTS_FILE
        changed = load_file(str(source))
    state = plain_state_dict(lm.model)
    unknown = [n for n in changed if n not in state]
    if unknown:
        raise UserError(f"run {Path(run_dir).name} changed {unknown[0]!r}, which the loaded model has not")
    return state | {n: t.to(state[n].dtype) for n, t in changed.items()}


def _stop(stop: Any) -> str:
    if not isinstance(stop, dict):
        return "— (ran every step)"
    undone = " (that step undone)" if stop.get("undone") else ""
    return f"the {stop.get('rule')} rule at step {stop.get('step')}{undone}"


def _what(record: dict[str, Any]) -> str:
    after = record.get("after")
    if after:
        return f"an unlearned checkpoint imported as a pair: after = `{after['source']}` ({after['summary']})"
    name = record["method"]
    with contextlib.suppress(KeyError, ValueError):
        name = f"{describe(name)['name']} ({name})"
    return f"a {name} run of {record['steps']} steps on {record['spec'].get('mode', record['trainable'])} parameters"


def model_card(record: dict[str, Any], audit: dict[str, Any] | None, fmt: str) -> str:
    """A model card (README.md) stating what was done: method, sets, hyperparameters, the audit headline."""
    base = record["model"].get("ref") or record["model"].get("name")
    rows = [
        ("base model (before)", f"{record['model'].get('name')} (`{base}`)"),
        ("method", record["method"]),
        ("forget set", record.get("sets", {}).get("forget") or "—"),
        ("retain set", record.get("sets", {}).get("retain") or "—"),
        ("parameters trained", record["spec"].get("mode", record["trainable"])),
        ("steps", record.get("steps")),
        ("stopped by", _stop(record.get("stop"))),
        ("training precision", (record.get("metrics") or {}).get("training_precision", "—")),
        ("created", record.get("created")),
    ]
    rows += [(f"hyperparameter `{k}`", v) for k, v in sorted((record.get("hparams") or {}).items())]
    m = record.get("metrics") or {}
    for part in ("forget", "retain"):
        before, after = m.get(f"{part}_prob_before"), m.get(f"{part}_prob_after")
        if isinstance(before, float) and isinstance(after, float):
            rows.append((f"{part} P̃ (mean answer probability) before → after", f"{before:.4g} → {after:.4g}"))
    summary = (audit or {}).get("summary", {})
    figures = [(label, summary.get(k)) for k, label in CARD_FIGURES.items()]
    figures = [(label, v) for label, v in figures if isinstance(v, int | float)]
    load = (
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        "model = AutoModelForCausalLM.from_pretrained(FOLDER)\ntokenizer = AutoTokenizer.from_pretrained(FOLDER)"
        if fmt == "hf"
        else "from peft import PeftModel\nfrom transformers import AutoModelForCausalLM\n"
        f"model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained({base!r}), FOLDER)"
    )
    lines = [
        "---",
        "library_name: " + ("transformers" if fmt == "hf" else "peft"),
        "tags: [machine-unlearning, unlearning-inspector]",
        "---",
        f"# {record['id']}",
        "",
        f"The model after {_what(record)}, exported by Unlearning Inspector (`python -m unlearn export`).",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in rows],
        "",
    ]
    if figures:
        lines += ["## Audit headline", "", "| figure | value |", "|---|---|"]
        lines += [f"| {label} | {v:.4g} |" for label, v in figures]
        lines += ["", "Measured by the app's audit (`python -m unlearn audit`); its report says how.", ""]
    else:
        lines += ["No audit was run on this model before export (`python -m unlearn audit --run DIR`).", ""]
    return "\n".join(lines + ["## Load", "", "```python", load, "```", ""])


def export_run(lm: LoadedModel, run_dir: Path, fmt: str, out: Path, step: int | None = None) -> Path:
    """Write run `run_dir` (at a kept `step`) as `fmt` into the new folder `out`; returns `out`."""
    run_dir, out = Path(run_dir), Path(out).expanduser()
    if fmt not in FORMATS:
        choices = " or ".join(f"{k} ({v})" for k, v in FORMATS.items())
        raise UserError(f"unknown export format {fmt!r}: choose {choices}")
    record = json.loads((run_dir / RUN_FILE).read_text())
    if record["model"]["ref"] != lm.source.ref:
        raise UserError(f"run {run_dir.name} was made on {record['model']['name']}: load that model to export it")
    if fmt == "peft" and record["trainable"] != "lora":
        raise UserError(
            f"run {run_dir.name} changed the model's own weights ({record['trainable']}), so it has no adapter: "
            "export it with --format hf"
        )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} already exists and is not an empty folder: give a new folder")
    if out.is_dir():
        out.rmdir()  # an empty folder is taken; atomic_dir renames the finished export into its place
    with atomic_dir(out) as tmp:
        if fmt == "peft":
            tr = apply_run(lm, run_dir, step)
            try:
                write_adapter(lm.model, tmp, lm.path or lm.source.ref)
            finally:
                tr.reset()
        else:
            lm.model.save_pretrained(str(tmp), state_dict=after_state_dict(lm, run_dir, step))
        lm.tokenizer.save_pretrained(str(tmp))
        (tmp / CARD).write_text(model_card(record, load_audit(run_dir, step), fmt), "utf-8")
    return out
