#!/usr/bin/env bash
# Creates bench/.venv with the PyTorch references of the benches: torchvision + Pillow for bench/multicrop.ts and
# torchvision's RegNet for bench/train-step.ts, with the same torch as the project's engine venv
# (torch-engine/pyproject.toml). PyPI's Linux torch wheel pulls the CUDA runtime packages (~3 GB); the CPU-only
# index is tried first.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"
pins=(torch==2.15.0 torchvision==0.29.2)
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip >/dev/null
if ! "$venv/bin/pip" install -q "${pins[@]}" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null; then
  echo "CPU-only index unreachable; installing torch/torchvision from the default index" >&2
  "$venv/bin/pip" install -q "${pins[@]}"
fi
"$venv/bin/pip" install -q pillow==13.0.0 numpy==2.4.6
"$venv/bin/python" -c 'import torch, torchvision, PIL; print("torch", torch.__version__, "torchvision", torchvision.__version__, "Pillow", PIL.__version__)'
