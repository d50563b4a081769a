#!/usr/bin/env bash
# The main job on the embedded default (`npm run demo`): bootstrap, start the local stack, seed the sample
# corpus into the local S3, and run the whole pipeline with a progress bar and a summary at the end.
# Extra arguments go to `seerflow run` (e.g. --preset tiny --set train.epochs=3).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
bash scripts/bootstrap.sh
source scripts/node-env.sh # Node 24 (project-local when the machine's is older)
./bin/seerflow stack up
./bin/seerflow seed
exec ./bin/seerflow run --preset tiny "$@"
