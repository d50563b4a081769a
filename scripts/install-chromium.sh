#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium (about 100 MB) for the run-report screenshot test, when missing
# (idempotent). A browser already on PATH (chromium, chromium-browser, google-chrome) or named by
# SEERFLOW_CHROMIUM counts as present. Needs root only when something is missing; `apt-get update` runs at most
# once, and only when apt has no install candidate yet. Exits non-zero with a clear message when it cannot install.
# Usage: scripts/install-chromium.sh
set -euo pipefail

case "${1:-}" in
  '') ;;
  -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "install-chromium: unknown argument '$1'" >&2; exit 2 ;;
esac

find_browser() {
  if [ -n "${SEERFLOW_CHROMIUM:-}" ] && [ -x "$SEERFLOW_CHROMIUM" ]; then echo "$SEERFLOW_CHROMIUM"; return 0; fi
  local b
  for b in chromium chromium-browser google-chrome google-chrome-stable; do
    if command -v "$b" >/dev/null 2>&1; then command -v "$b"; return 0; fi
  done
  return 1
}

# A browser is only usable with a font to draw chart labels with; DejaVu is small and Debian's default.
PACKAGES=(chromium fonts-dejavu-core)
installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

if browser="$(find_browser)"; then
  if ! command -v dpkg-query >/dev/null 2>&1 || installed fonts-dejavu-core || fc-list 2>/dev/null | grep -q .; then
    echo "install-chromium: present ($browser)"
    exit 0
  fi
fi

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-chromium: the chromium package is installed but no browser is on PATH; add /usr/bin to PATH or set SEERFLOW_CHROMIUM" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-chromium: no Chromium found and apt-get is not available (Debian/Ubuntu needed)." >&2
  echo "  Install Chromium or Chrome yourself and put it on PATH, or set SEERFLOW_CHROMIUM=/path/to/chrome." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-chromium: missing Debian package(s): ${missing[*]}" >&2
  echo "  Installing them needs root. Run:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "  (or run this script as root: sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
policy="$(apt-cache policy chromium 2>/dev/null || true)" # captured first: grep -q would break the pipe
if ! grep -q 'Candidate: [^(]' <<<"$policy"; then
  echo "install-chromium: apt does not know chromium yet; running apt-get update once"
  apt-get update -qq || { echo "install-chromium: apt-get update failed (no network or no Debian mirror?)" >&2; exit 1; }
fi

echo "install-chromium: installing ${missing[*]} (about 100 MB)"
if ! apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  echo "install-chromium: apt-get install ${missing[*]} failed; see the output above" >&2
  exit 1
fi

if ! browser="$(find_browser)"; then
  echo "install-chromium: chromium was installed but no browser binary is on PATH" >&2
  exit 1
fi
# A browser that cannot start (missing shared libraries) is as good as none: say so here, not in the test.
if ! "$browser" --headless --no-sandbox --disable-gpu --version >/dev/null 2>&1 && ! "$browser" --version >/dev/null 2>&1; then
  echo "install-chromium: $browser is installed but does not start; run '$browser --version' to see why" >&2
  exit 1
fi
echo "install-chromium: installed ($("$browser" --version 2>/dev/null || echo "$browser"))"
