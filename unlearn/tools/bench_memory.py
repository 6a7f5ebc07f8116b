"""The bench's memory figures: each kind of session in a child interpreter of its own,
so no peak of the measuring process counts. `python -m unlearn.tools.bench_memory memory ...` is the child."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from unlearn.inspection.compare import Decoding, compare
from unlearn.model.host_memory import exact_frees
from unlearn.model.models import load_model
from unlearn.model.paths import PROJECT
from unlearn.tools.bench_compare import prompt_near
from unlearn.tools.bench_setup import FULL, QUICK, BenchSizes, demo_data, demo_spec, threads
from unlearn.train.engine import run_unlearning
from unlearn.train.runs import apply_run


def rss_bytes() -> int:
    """Resident set size now (Linux /proc), else the peak so far."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return _peak_rss_bytes()


def _peak_rss_bytes() -> int:
    """Peak resident set size of this process image. Linux: VmHWM, which starts afresh at exec;
    getrusage's ru_maxrss does not (a child inherits the parent's peak across fork + exec, which
    made every child report the parent's 3.2 GiB). Elsewhere ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024  # kB
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS reports bytes, Linux KiB


MEMORY_KINDS = ("compare", "train", "train_heap", "train_low")


def memory_session(model_ref: str, device: str | None, sz: BenchSizes, kind: str, run_dir: str = "") -> dict[str, int]:
    """Peak memory of one kind of session, and the model's bytes.

    - compare: a before/after session as the app holds one: load the model, put a saved run's
      "after" on it from disk, and run the Compare tab's `compare()` on the ~64-token forget item
      (both generations; one forward per model with logits, every layer's hidden states and
      attentions; the kept arrays). The claim under test: "before" costs no second model.
    - train / train_low: load and unlearn (the quick demo's settings, `memory_steps` steps), with
      activations stored or recomputed (`RunSpec.low_memory`). Not the before/after claim: what a
      training step's activations add, which grows with batch x tokens x layers. On a CPU every freed
      tensor is returned at once (`host_memory.exact_frees`), so the peak is that of the live tensors,
      as torch's peak allocation is on a GPU.
    - train_heap: `train` with glibc's allocator as the app runs it, which keeps freed activations in
      its heap during a run: the resident peak `top` shows (no target; host_memory.py).

    CUDA: torch's peak allocation. CPU: peak RSS minus the RSS just before loading (imports and
    the interpreter are not the session's cost)."""
    if kind in ("train", "train_low"):
        exact_frees()
    base = rss_bytes()
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    lm = load_model(model_ref, device=device)
    model_bytes = sum(p.numel() * p.element_size() for p in lm.model.parameters())
    data = demo_data(sz.max_items)
    if kind == "compare":
        trainable = apply_run(lm, Path(run_dir))
        ex, _ = prompt_near(lm, data.forget)
        kept = compare(
            lm.model,
            lm.tokenizer,
            trainable.reference,
            ex,
            Decoding(),
            True,
            "bench",
            side_by_side=trainable.side_by_side,
        )
        assert kept.before.probe.attentions.shape == kept.after.probe.attentions.shape
    else:
        spec = replace(demo_spec(sz.memory_steps, eval_every=0), low_memory=kind == "train_low")
        run_unlearning(lm, spec, data.forget, data.retain_train, data.retain_eval)
    if lm.device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(lm.device)
    else:
        peak = _peak_rss_bytes() - base
    return {"model_bytes": model_bytes, "peak_bytes": peak}


def measure_memory(model_ref: str, device: str, quick: bool, kinds: tuple[str, ...], run_dir: str = "") -> dict:
    """Run `memory_session` of each kind in a child interpreter of its own, so no earlier peak counts;
    returns {kind: its figures}. The quick bench (one torch thread per child, a tiny model: the children
    spend their time importing the libraries) runs them side by side on a CPU, where a child's peak is
    its own resident set. The full bench runs them one after another: four training children side by side
    on 2 cores took 646 s against 223 s one after another (their threads contend), and a GPU's memory is
    one pool."""
    root = str(PROJECT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    size = "quick" if quick else "full"

    def start(kind: str) -> tuple[subprocess.Popen, Any]:
        # output to a file, not a pipe: a child whose pipe fills while another is read would stall
        cmd = [sys.executable, "-m", "unlearn.tools.bench_memory", "memory", model_ref, device, size, kind, run_dir]
        out, err = (tempfile.TemporaryFile("w+", errors="replace") for _ in range(2))
        return subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env, cwd=root), (out, err)

    def read(file: Any) -> str:
        with file:
            file.seek(0)
            return file.read()

    def result(kind: str, started: tuple[subprocess.Popen, Any]) -> dict[str, int]:
        proc, (out, err) = started
        proc.wait()
        printed, said = read(out), read(err)
        if proc.returncode != 0:
            raise RuntimeError(f"the {kind} memory measurement failed:\n{said[-2000:]}")
        return json.loads(printed.strip().splitlines()[-1])

    if not (quick and device.startswith("cpu")):
        return {kind: result(kind, start(kind)) for kind in kinds}
    running: dict[str, tuple[subprocess.Popen, Any]] = {}
    try:
        for kind in kinds:
            running[kind] = start(kind)
        return {kind: result(kind, started) for kind, started in running.items()}
    finally:  # one child failed (or Ctrl-C): the others are stopped, not left running
        for proc, files in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for file in files:
                file.close()


if __name__ == "__main__":  # the child process of `measure_memory`
    if sys.argv[1:2] != ["memory"] or len(sys.argv) < 6 or sys.argv[5] not in MEMORY_KINDS:
        sys.exit(
            "usage: python -m unlearn.tools.bench_memory memory MODEL DEVICE quick|full "
            "compare|train|train_heap|train_low [RUN_DIR] (use `python -m unlearn bench`)"
        )
    sizes = QUICK if sys.argv[4] == "quick" else FULL
    with threads(sizes.threads):
        print(json.dumps(memory_session(sys.argv[2], sys.argv[3], sizes, sys.argv[5], (sys.argv[6:7] or [""])[0])))
