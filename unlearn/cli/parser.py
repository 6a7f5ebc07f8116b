"""The command line's options: one sub-parser per command, each pointing at its function."""

from __future__ import annotations

import argparse

from unlearn.audit.pipeline import AuditConfig
from unlearn.audit.remind import RemindConfig
from unlearn.cli.common import RAY_HELP, hparam
from unlearn.cli.model_data import cmd_bench, cmd_check_data, cmd_datasets, cmd_export, cmd_import, cmd_info, cmd_teach
from unlearn.cli.patching import cmd_patch
from unlearn.cli.runs_audits import cmd_audit, cmd_methods, cmd_run, cmd_sweep
from unlearn.data.set_refs import SET_HELP
from unlearn.data.teach import TeachConfig
from unlearn.inspection.patching import COMPONENTS, GROUPS
from unlearn.model.models import BUNDLED
from unlearn.settings import add_flags
from unlearn.train.engine import DEMO_STEPS, RunSpec
from unlearn.train.loop import LoopConfig

DESCRIPTION = """Command line: `python -m unlearn {info,datasets,check-data,teach,run,audit,import,export,...} ...`.

With --json the last line printed is one JSON object, for scripts and checks.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m unlearn", description=DESCRIPTION)
    sub = p.add_subparsers(dest="command", required=True)

    def model_args(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--model", default=BUNDLED, help="'bundled', a hub id, a model folder or a .gguf file")
        sp.add_argument("--device", default=None, help="auto (default), cuda, mps or cpu")
        sp.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    sp = sub.add_parser("info", help="load a model and print its card")
    model_args(sp)
    sp.add_argument("--trust-remote-code", action="store_true", help="run code shipped with a hub model")
    sp.set_defaults(fn=cmd_info)

    sp = sub.add_parser("datasets", help="list the built-in sets and their sizes")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_datasets)

    sp = sub.add_parser("check-data", help="record what the model knows of each built-in set")
    model_args(sp)
    sp.add_argument("--write", action="store_true", help="write the results into assets/")
    sp.set_defaults(fn=cmd_check_data)

    sp = sub.add_parser("teach", help="fine-tune the model on sets (cached) so it knows them")
    model_args(sp)
    sp.add_argument(
        "--sets", nargs="+", default=["fictitious_authors:forget", "fictitious_authors:retain"], help=SET_HELP
    )
    add_flags(sp, TeachConfig, ["epochs", "lr", "batch_size", "seed", "replay"])
    sp.set_defaults(fn=cmd_teach)
    sp = sub.add_parser("methods", help="list the unlearning methods")
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_methods)

    sp = sub.add_parser("run", help="run one unlearning method and save the run")
    model_args(sp)
    sp.add_argument("--forget", default="harry_potter", help=SET_HELP)
    sp.add_argument(
        "--retain",
        default="general_knowledge",
        help=SET_HELP + " ('' for none); its eval part (or every other item) is only measured",
    )
    sp.add_argument("--method", default="npo")
    sp.add_argument("--preset", default="quick", choices=["quick", "paper"], help="default hyperparameters")
    sp.add_argument("--hp", type=hparam, action="append", help="a method hyperparameter, NAME=VALUE (repeatable)")
    sp.add_argument(
        "--mode",
        default=None,
        choices=["lora", "full", "subset"],
        help="parameters trained (default: the method's own subset where its paper trains one, e.g. RMU; else lora)",
    )
    # the loop's and the run's settings, declared once with the app's labels (unlearn/settings.py)
    add_flags(
        sp, LoopConfig, ["lr", "steps", "epochs", "batch_size", "grad_accum", "warmup", "max_length", "seed"], lr=None
    )
    add_flags(sp, RunSpec, ["lora_r", "eval_every", "low_memory", "compile"])
    sp.add_argument(
        "--shard",
        action="store_true",
        help="under torchrun / accelerate launch: split the model's trained state over the processes (FSDP2)",
    )
    run_options = ["project_retain", "coreset", "coreset_mode", "melu", "save_every", "stop_forget", "keep_retain"]
    add_flags(sp, RunSpec, run_options, stop_forget=None, keep_retain=None)
    sp.add_argument("--out", default=None, help="runs folder (default: $UNLEARN_RUNS_DIR or the cache)")
    sp.set_defaults(fn=cmd_run)

    sp = sub.add_parser("sweep", help="run every method with quick defaults on one task; print the table")
    model_args(sp)
    sp.add_argument("--methods", nargs="*", default=[], help="method ids (default: all)")
    sp.add_argument("--forget", default="harry_potter")
    sp.add_argument("--retain", default="general_knowledge")
    sp.add_argument("--steps", type=int, default=DEMO_STEPS)
    sp.add_argument("--out", default=None, help="runs folder (default: $UNLEARN_RUNS_DIR or the cache)")
    sp.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS", help=RAY_HELP)
    sp.set_defaults(fn=cmd_sweep)

    sp = sub.add_parser("audit", help="score a saved run before and after: membership inference, REMIND, TOFU metrics")
    sp.add_argument(
        "--run",
        required=True,
        action="append",
        help="a saved run's folder (RUN_DIR#step=N: one of the steps it kept); with --ray, as many as you like",
    )
    sp.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS", help=RAY_HELP)
    sp.add_argument("--step", type=int, default=None, help="audit a step the run kept (run with --save-every)")
    sp.add_argument("--model", default=None, help="default: the model the run was made on")
    sp.add_argument("--device", default=None)
    sp.add_argument("--forget", default=None, help=SET_HELP + "; default: the run's forget set")
    sp.add_argument("--retain", default=None, help=SET_HELP + "; default: the run's retain set ('' for none)")
    sp.add_argument(
        "--holdout",
        default=None,
        help="items never trained on, from the forget set's source, named as --forget (default: its own "
        "holdout split, e.g. fictitious_authors:holdout for fictitious_authors:forget)",
    )
    add_flags(sp, AuditConfig, ["max_items"])
    add_flags(sp, RemindConfig, ["k"])
    add_flags(sp, AuditConfig, ["probe_items"])
    sp.add_argument("--no-relearn", action="store_true", help="skip the relearning attack")
    add_flags(sp, AuditConfig, ["surface_items", "patch_items"])
    sp.add_argument(
        "--retain-model",
        default=None,
        help="a model trained without the forget set (folder, hub id, .gguf or PEFT adapter folder): forget "
        "quality and PrivLeak",
    )
    sp.add_argument(
        "--quality-items", type=int, default=None, help="forget items in the forget-quality KS test (default: all)"
    )
    sp.add_argument(
        "--utility-items",
        type=int,
        default=None,
        help="TOFU Real Authors / World Facts items scored for model utility (default: all, 100 and 117)",
    )
    sp.add_argument(
        "--no-utility-sets",
        action="store_true",
        help="skip Real Authors and World Facts (the utility is then a 'retain utility', not TOFU's model utility)",
    )
    sp.add_argument("--no-gradnorm", action="store_true", help="skip the GradNorm attack (a backward per 8 items)")
    sp.add_argument(
        "--quantize",
        type=int,
        nargs="*",
        default=list(AuditConfig.quantize_bits),
        metavar="BITS",
        help="bit widths of the quantization attack (default: 4, the paper's attack; `8 4` adds 8 bits as a "
        "control; give none to skip it)",
    )
    sp.add_argument("--html", default=None, help="also write the report here (and FILE.figures.json beside it)")
    sp.add_argument("--seed", type=int, default=0)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_audit)

    sp = sub.add_parser("patch", help="activation patching between a saved run's before and after models")
    sp.add_argument("--run", required=True, help="a saved run's folder (RUN_DIR#step=N: one of the steps it kept)")
    sp.add_argument("--set", default=None, help=SET_HELP + "; default: the run's forget set")
    sp.add_argument("--items", type=int, default=4, help="items patched (each ~100 s on a 2-core CPU, bundled model)")
    sp.add_argument("--components", nargs="+", default=list(COMPONENTS), choices=COMPONENTS)
    sp.add_argument("--groups", nargs="+", default=list(GROUPS), choices=GROUPS, help="position groups")
    sp.add_argument("--plot", default=None, help="folder for the heatmap and curves (HTML; PNG with Chromium)")
    sp.add_argument("--model", default=None, help="default: the model the run was made on")
    sp.add_argument("--device", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_patch)

    sp = sub.add_parser("import", help="pair an unlearned checkpoint (after) with its base model (before) as a run")
    model_args(sp)
    sp.add_argument(
        "--after",
        required=True,
        help="the unlearned model: a save_pretrained folder (safetensors), a hub id, a .gguf file or a PEFT LoRA "
        "adapter folder (adapter_config.json); --model is the model it was unlearned from",
    )
    sp.add_argument("--name", default=None, help="a name for the pair (default: the folder's name)")
    sp.add_argument("--out", default=None, help="runs folder (default: the app's)")
    sp.set_defaults(fn=cmd_import)

    sp = sub.add_parser("export", help="write a saved run's after model as a standard model folder")
    sp.add_argument("--run", required=True, help="a saved run's folder (RUN_DIR#step=N: one of the steps it kept)")
    sp.add_argument("--format", default="hf", choices=["hf", "peft"], help="hf: save_pretrained; peft: LoRA adapter")
    sp.add_argument("--out", required=True, help="a new (or empty) folder to write")
    sp.add_argument("--model", default=None, help="default: the model the run was made on")
    sp.add_argument("--device", default=None)
    sp.add_argument("--json", action="store_true")
    sp.set_defaults(fn=cmd_export)

    sp = sub.add_parser("bench", help="measure loop overhead, compute use, memory and demo time against targets")
    model_args(sp)
    sp.add_argument("--quick", action="store_true", help="tiny sizes, for tests: the figures mean little")
    sp.add_argument("--pairs", action="store_true", help="only what imported pairs cost: disk, memory, seconds")
    sp.add_argument(
        "--gpu",
        action="store_true",
        help="NPO steps, Compare and REMIND on random models of Llama-3.2-1B / 3.1-8B shape (a small one on CPU)",
    )
    sp.add_argument("--shapes", default=None, help="with --gpu: comma-separated, of llama-3.2-1b, llama-3.1-8b, small")
    sp.add_argument(
        "--scaling",
        action="store_true",
        help="how step, Compare and audit time grow with set size, tokens, prompt and K: curves with fitted "
        "exponents, plotted to scaling.png / scaling.html",
    )
    sp.add_argument("--out", default=None, help="with --scaling: folder for the plots (default: assets/)")
    sp.set_defaults(fn=cmd_bench)
    return p
