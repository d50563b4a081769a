#!/usr/bin/env bash
# One-shot GPU check for a machine with an NVIDIA GPU and a recent driver: builds @tensorflow/tfjs-node-gpu
# against the CUDA build of TensorFlow 2.21 (scripts/bootstrap.sh --gpu, CUDA libraries from pip), checks that
# a SwAV step on the GPU agrees with the CPU build (loss, features, every tensor's update) and times the named
# workloads on both, alternating. Results: bench/results/gpu-check-<date>.json; exit 1 when a check fails.
#
#   bash bench/gpu-check.sh              # on the GPU machine
#   bash bench/gpu-check.sh --dry-run    # anywhere: the same checks between the pure-JS and the native CPU backend
# Extra arguments go to dist/bench/gpu-check.js (e.g. --workloads W-200MF --rounds 3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then DRY=1; shift; fi

if [[ $DRY == 1 ]]; then
  bash scripts/bootstrap.sh
  source scripts/node-env.sh
  npx --no-install tsc -p tsconfig.json
  # The pure-JS backend is ~150x slower: W-tiny only, one short round.
  exec node dist/bench/gpu-check.js --backends cpu,tensorflow --agree-workloads W-tiny --workloads W-tiny --rounds 1 \
    --warmup 1 --steps 2 --out bench/results/gpu-check-dry-run.json "$@"
fi

command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || echo "nvidia-smi not found" >&2
bash scripts/bootstrap.sh --gpu
source scripts/node-env.sh
source .seerflow/gpu-env.sh
# Fail early, with TensorFlow's own words, when the GPU build does not see a GPU.
SEERFLOW_BACKEND=tensorflow-gpu node -e '
  const { initBackend } = require("./dist/engine/backend");
  const info = initBackend();
  console.log(JSON.stringify(info));
  if (info.device !== "gpu") { console.error("the GPU build loaded but TensorFlow found no GPU device"); process.exit(1); }'
exec node dist/bench/gpu-check.js --backends tensorflow-gpu,tensorflow "$@"
