#!/usr/bin/env bash
# A clean Debian 12 root filesystem to install the .deb into (tests/integration/test_packages.py):
# mmdebstrap from this machine's own apt sources, with only what the package depends on and is not
# inside it (python3.11). Built once and kept (`make package-deps`).
#   debian12-rootfs.sh [OUT.tar]          build it unless OUT.tar exists; print its path
#   debian12-rootfs.sh --path [OUT.tar]   print the path only (the tests look, they never build)
set -Eeuo pipefail
only_path=false
if [ "${1:-}" = --path ]; then only_path=true; shift; fi
out=${1:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/centreon-poller-fleet/debian12-rootfs.tar}
if [ ! -s "$out" ] && ! $only_path; then
  command -v mmdebstrap >/dev/null || { echo "debian12-rootfs.sh: apt-get install mmdebstrap" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  tmp=$(mktemp "$out.XXXXXX")
  trap 'rm -f "$tmp"' EXIT
  mmdebstrap --quiet --variant=apt --include=python3.11 --format=tar bookworm "$tmp"
  mv "$tmp" "$out"
fi
echo "$out"
