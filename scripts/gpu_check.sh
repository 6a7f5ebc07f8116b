#!/usr/bin/env bash
# The GPU checks of issue 17 in one go, for a machine with a CUDA GPU: the bench on the 1B and 8B
# shapes, then the tiny-model tests of the training, memory, kernel, probe and REMIND code on the GPU.
# Usage: bash scripts/gpu_check.sh OUT_FOLDER   (writes bench_gpu.json, bench_gpu.log, pytest_cuda.txt)
set -u
out=${1:-gpu_check_out}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)" | tee -a "$out/gpu.txt"
t0=$SECONDS
timeout "${BENCH_TIMEOUT:-330}" python3 -m unlearn bench --gpu --json >"$out/bench_gpu.json" 2>"$out/bench_gpu.log"
echo "bench: exit $? after $((SECONDS - t0)) s"
tail -n 5 "$out/bench_gpu.log"
python3 - "$out/bench_gpu.json" <<'PY'
import json, sys
from unlearn.bench_gpu import summary
print("\n".join(summary(json.loads(open(sys.argv[1]).read().strip().splitlines()[-1]))))
PY
t0=$SECONDS
UNLEARN_TEST_DEVICE=cuda timeout "${TEST_TIMEOUT:-150}" python3 -m pytest -q -p no:cacheprovider \
  tests/test_methods_contract.py tests/test_memory_plan.py tests/test_kernels.py tests/test_recompute.py \
  tests/test_probe.py tests/test_remind.py tests/test_loop_teach.py tests/test_forward.py tests/test_compiled.py >"$out/pytest_cuda.txt" 2>&1
echo "tests on cuda: exit $? after $((SECONDS - t0)) s"
grep -E "passed|failed|error" "$out/pytest_cuda.txt" | tail -n 3
grep -E "^(FAILED|ERROR)" "$out/pytest_cuda.txt" | head -n 30
