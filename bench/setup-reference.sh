#!/usr/bin/env bash
# Creates bench/.venv with the torchvision + Pillow reference for bench/multicrop.ts.
# PyPI's Linux torch wheel pulls the CUDA runtime packages (~3 GB); the CPU-only index is tried first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
if ! "$venv/bin/pip" install -q torch torchvision --index-url https://download.pytorch.org/whl/cpu 2>/dev/null; then
  echo "CPU-only index unreachable; installing torch/torchvision from the default index" >&2
  "$venv/bin/pip" install -q torch torchvision
fi
"$venv/bin/pip" install -q pillow numpy
"$venv/bin/python" -c 'import torch, torchvision, PIL; print("torch", torch.__version__, "torchvision", torchvision.__version__, "Pillow", PIL.__version__)'
