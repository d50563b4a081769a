#!/usr/bin/env bash
# Installs the Debian packages that hold the sample corpus's real images, when missing (idempotent):
#   dataset-fashion-mnist                  Fashion-MNIST IDX files (70k 28x28 images, labels)
#   palapeli-data, lomiri-wallpapers-*     real colour photos (allow-listed in datasets/corpus/photos.ts)
# Needs root only when something is missing. `apt-get update` runs at most once, and only when apt does not
# know a package yet. Usage: scripts/install-data-packages.sh [--no-photos]
set -euo pipefail

PACKAGES=(dataset-fashion-mnist)
PHOTO_PACKAGES=(palapeli-data lomiri-wallpapers-16.04 lomiri-wallpapers-20.04)

for arg in "$@"; do
  case "$arg" in
    --no-photos) PHOTO_PACKAGES=() ;;
    -h | --help)
      sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-data-packages: unknown argument '$arg'" >&2
      exit 2
      ;;
  esac
done
PACKAGES+=("${PHOTO_PACKAGES[@]}")

installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

missing=()
for p in "${PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-data-packages: all present (${PACKAGES[*]})"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-data-packages: missing ${missing[*]}, and apt-get is not available (Debian/Ubuntu needed)." >&2
  echo "  Alternatively set SEERFLOW_FASHION_MNIST_DIR to a folder with the Fashion-MNIST *-ubyte.gz files" >&2
  echo "  and seed with --no-photos." >&2
  exit 1
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-data-packages: missing Debian package(s): ${missing[*]}" >&2
  echo "  Installing them needs root. Run:  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  echo "  (or run this script as root: sudo $0)" >&2
  exit 1
fi

export DEBIAN_FRONTEND=noninteractive
unknown=()
for p in "${missing[@]}"; do
  # A package without an install candidate means stale or empty package lists.
  # (captured first: with pipefail, grep -q closing the pipe early would fail the pipeline)
  policy="$(apt-cache policy "$p" 2>/dev/null || true)"
  if ! grep -q 'Candidate: [^(]' <<<"$policy"; then unknown+=("$p"); fi
done
if [ ${#unknown[@]} -gt 0 ]; then
  echo "install-data-packages: apt does not know ${unknown[*]} yet; running apt-get update once"
  apt-get update -qq
fi

echo "install-data-packages: installing ${missing[*]}"
apt-get install -y -qq --no-install-recommends "${missing[@]}"

still=()
for p in "${missing[@]}"; do
  installed "$p" || still+=("$p")
done
if [ ${#still[@]} -gt 0 ]; then
  echo "install-data-packages: failed to install ${still[*]}" >&2
  exit 1
fi
echo "install-data-packages: installed ${missing[*]}"
