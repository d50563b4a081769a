#!/usr/bin/env bash
# Node 24 (the current LTS) for seerflow. When the machine's Node is older, installs the official build from the
# npm registry (package node-<os>-<arch>: bin/node plus the headers native addons compile against; npm itself is
# the machine's) into .seerflow/node, which scripts/node-env.sh puts first on PATH. Idempotent: does nothing when
# that version is installed there, or when there is none and the machine's Node is new enough.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_VERSION=24.22.3 # keep the major in step with "engines" in package.json
REQUIRED_MAJOR=${NODE_VERSION%%.*}
DEST="$ROOT/.seerflow/node"
log() { printf '[node] %s\n' "$*" >&2; }

if [[ -x "$DEST/bin/node" ]]; then
  have=$("$DEST/bin/node" --version 2>/dev/null || echo none)
  if [[ "$have" == "v$NODE_VERSION" ]]; then
    log "Node $NODE_VERSION in .seerflow/node: up to date"
    exit 0
  fi
  log ".seerflow/node has $have; replacing it with $NODE_VERSION"
else
  system=$(node --version 2>/dev/null || echo none)
  major=${system#v}
  major=${major%%.*}
  if [[ "$major" =~ ^[0-9]+$ ]] && ((major >= REQUIRED_MAJOR)); then
    log "the machine's Node $system is new enough (>= $REQUIRED_MAJOR); nothing to install"
    exit 0
  fi
  log "the machine's Node is $system; installing Node $NODE_VERSION into .seerflow/node"
fi

case "$(uname -s)" in Linux) os=linux ;; Darwin) os=darwin ;; *) log "no Node package for $(uname -s)"; exit 1 ;; esac
case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) log "no Node package for $(uname -m)"; exit 1 ;; esac
command -v npm >/dev/null || { log "npm is needed to fetch node-$os-$arch@$NODE_VERSION from the npm registry"; exit 1; }

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
# npm pack checks the tarball against the registry's integrity hash.
tgz=$(cd "$T" && npm pack --silent "node-$os-$arch@$NODE_VERSION" | tail -1)
tar xzf "$T/$tgz" -C "$T"
[[ "$("$T/package/bin/node" --version)" == "v$NODE_VERSION" ]] || { log "the downloaded node does not run as v$NODE_VERSION"; exit 1; }
[[ -f "$T/package/include/node/node_api.h" ]] || { log "the package has no include/node headers"; exit 1; }
mkdir -p "$(dirname "$DEST")"
rm -rf "$DEST.partial"
mv "$T/package" "$DEST.partial"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
log "installed $("$DEST/bin/node" --version) in .seerflow/node"
