#!/usr/bin/env bash
# Build @tensorflow/tfjs-node (or -gpu with --gpu) against the TensorFlow 2.21 C library from PyPI's wheel.
# npm's own download of libtensorflow 2.9.1 is disabled by "allowScripts" in package.json; this replaces it.
# Idempotent: does nothing when the addon exists and reports TF 2.21.0.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TF_VERSION=2.21.0
FLAVOUR=cpu
[[ "${1:-}" == "--gpu" ]] && FLAVOUR=gpu
if [[ $FLAVOUR == gpu ]]; then PKG=tensorflow; TFN=node_modules/@tensorflow/tfjs-node-gpu; else PKG=tensorflow-cpu; TFN=node_modules/@tensorflow/tfjs-node; fi
WHEELS="$ROOT/.seerflow/cache/wheels"
log() { printf '[tfjs-native] %s\n' "$*" >&2; }

[[ -d $TFN ]] || { log "$TFN is missing: run npm install first"; exit 1; }

# tfjs-node 4.22.0 (the latest release) calls util.isNullOrUndefined, which Node 23 removed, and util.isArray,
# which Node 22 deprecated; apply upstream's unreleased fix (`x == null`, Array.isArray) to the installed package
# (docs/architecture.md, "Runtime: Node 24"). Idempotent; the same on every Node version.
KERNEL_JS="$TFN/dist/nodejs_kernel_backend.js"
if grep -q 'util_1\.is' "$KERNEL_JS"; then
  sed -i -E 's/\(0, util_1\.isNullOrUndefined\)\(([A-Za-z_$][A-Za-z0-9_$]*)\)/(\1 == null)/g; s/\(0, util_1\.isArray\)\(/Array.isArray(/g' "$KERNEL_JS"
  if grep -q 'util_1\.is' "$KERNEL_JS"; then log "$KERNEL_JS: util.is* calls left after the patch"; exit 1; fi
  log "patched $KERNEL_JS for Node >= 23 (util.isNullOrUndefined, util.isArray)"
fi

# GPU: TensorFlow's CUDA build loads cuDNN, cuBLAS, ... at run time. They come from pip (the wheel's and-cuda
# extra) into .seerflow/cuda-venv; .seerflow/gpu-env.sh puts their lib folders on LD_LIBRARY_PATH, and
# bin/seerflow and bench/gpu-check.sh source it. Needs an NVIDIA driver recent enough for those CUDA libraries.
cuda_env() {
  local venv="$ROOT/.seerflow/cuda-venv"
  if [[ ! -f "$venv/.and-cuda-$TF_VERSION.stamp" ]]; then
    log "installing the CUDA libraries of tensorflow[and-cuda]==$TF_VERSION from PyPI into $venv (several GB)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check --find-links "$WHEELS" "tensorflow[and-cuda]==$TF_VERSION"
    touch "$venv/.and-cuda-$TF_VERSION.stamp"
  fi
  local dirs
  dirs=$(ls -d "$venv"/lib/python3*/site-packages/nvidia/*/lib 2>/dev/null | paste -sd: -)
  [[ -n "$dirs" ]] || { log "no nvidia/*/lib folders in $venv"; exit 1; }
  printf '# written by scripts/build-tfjs-native.sh --gpu: CUDA libraries for @tensorflow/tfjs-node-gpu\nexport LD_LIBRARY_PATH="%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"\n' "$dirs" >"$ROOT/.seerflow/gpu-env.sh"
  log "wrote .seerflow/gpu-env.sh"
}
addon=$(ls "$TFN"/lib/napi-v*/tfjs_binding.node 2>/dev/null | head -1 || true)
if [[ -n "$addon" && -f "$TFN/deps/lib/libtensorflow_cc.so.2" ]]; then
  ver=$(TF_CPP_MIN_LOG_LEVEL=3 node -e "console.log(require('$ROOT/$addon').TF_Version)" 2>/dev/null || true)
  if [[ "$ver" == "$TF_VERSION" ]]; then
    if [[ $FLAVOUR == gpu ]]; then mkdir -p "$WHEELS"; cuda_env; fi
    log "already built ($addon, TF $ver)"
    exit 0
  fi
fi

mkdir -p "$WHEELS"
pyname=${PKG//-/_}
WHL=$(ls "$WHEELS"/${pyname}-${TF_VERSION}-*.whl 2>/dev/null | head -1 || true)
if [[ -z "$WHL" ]]; then
  log "downloading $PKG==$TF_VERSION wheel from PyPI (about 274 MB for the CPU build)"
  python3 -m pip download -q "$PKG==$TF_VERSION" --no-deps -d "$WHEELS"
  WHL=$(ls "$WHEELS"/${pyname}-${TF_VERSION}-*.whl | head -1)
fi
[[ -f "$WHL" ]] || { log "wheel not found after download"; exit 1; }

log "extracting the C library from $(basename "$WHL")"
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
rm -rf "$TFN/deps"; mkdir -p "$TFN/deps/lib" "$TFN/deps/include"
unzip -q -o -j "$WHL" tensorflow/libtensorflow_cc.so.2 tensorflow/libtensorflow_framework.so.2 -d "$TFN/deps/lib"
unzip -q -o "$WHL" 'tensorflow/include/tensorflow/c/*' 'tensorflow/include/tensorflow/core/platform/ctstring*' \
  'tensorflow/include/tsl/platform/ctstring*' 'tensorflow/include/xla/tsl/c/*' -d "$T"
cp -r "$T"/tensorflow/include/* "$TFN/deps/include/"
ln -sf libtensorflow_cc.so.2 "$TFN/deps/lib/libtensorflow.so"
ln -sf libtensorflow_framework.so.2 "$TFN/deps/lib/libtensorflow_framework.so"
# node-pre-gyp's install.js would re-download when this marker is absent; keep it for tools that check it.
touch "$TFN/deps/lib/libtensorflow.so.2.9.1"

if [[ $FLAVOUR == gpu ]]; then cuda_env; fi

log "compiling the addon"
NODEDIR=$(dirname "$(dirname "$(command -v node)")")
if [[ -f "$NODEDIR/include/node/node_api.h" ]]; then export npm_config_nodedir="$NODEDIR"; fi
(cd "$TFN" && npx --no-install node-pre-gyp install --build-from-source >"$T/build.log" 2>&1) || { cat "$T/build.log" >&2; exit 1; }
addon=$(ls "$TFN"/lib/napi-v*/tfjs_binding.node | head -1)
[[ -f "$ROOT/.seerflow/gpu-env.sh" && $FLAVOUR == gpu ]] && source "$ROOT/.seerflow/gpu-env.sh"
ver=$(TF_CPP_MIN_LOG_LEVEL=3 node -e "console.log(require('$ROOT/$addon').TF_Version)")
log "built: TF_Version=$ver"
[[ "$ver" == "$TF_VERSION" ]]
