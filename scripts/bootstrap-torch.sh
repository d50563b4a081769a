#!/usr/bin/env bash
# The PyTorch engine's venv (.seerflow/torch-venv): torch + numpy pinned by torch-engine/pyproject.toml, pytest, and
# the seerflow_torch package itself (editable). Idempotent: a stamp records the pyproject it installed and the
# checkout it points to, so a second run is a no-op and a moved checkout only re-links the package. PyPI's Linux
# torch wheel is the CUDA build (~3 GB with its nvidia-* wheels); it runs on CPU too. Called by
# scripts/bootstrap.sh --torch (implied by --test); the tfjs demo never needs it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.seerflow/torch-venv"
PROJECT="$ROOT/torch-engine"
STAMP="$VENV/.seerflow-torch.stamp"
want="$(sha256sum "$PROJECT/pyproject.toml" | cut -c1-16) $PROJECT"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
  echo "torch venv: up to date" >&2
  exit 0
fi
t0=$(date +%s)
if [[ ! -x "$VENV/bin/pip" ]]; then python3 -m venv "$VENV"; fi
pip=("$VENV/bin/pip" install -q --disable-pip-version-check)
if [[ -f "$STAMP" && "$(cut -d' ' -f1 "$STAMP")" == "$(cut -d' ' -f1 <<<"$want")" ]]; then
  "${pip[@]}" --no-deps -e "$PROJECT" # same pins, another checkout: only re-link the package
else
  "${pip[@]}" -e "$PROJECT[test]"
fi
"$VENV/bin/python" -c 'import torch, numpy, seerflow_torch; print("torch", torch.__version__, "numpy", numpy.__version__)' >&2
printf '%s\n' "$want" >"$STAMP"
echo "torch venv ready in $(($(date +%s) - t0))s ($(du -sh "$VENV" | cut -f1))" >&2
