#!/usr/bin/env bash
# A clean Debian 12 root filesystem to install the .deb into (tests/integration/test_packages.py):
# mmdebstrap from this machine's own apt sources, with only what the package depends on and is not
# inside it (python3.11). Built once and kept (`make package-deps`) at $DEBIAN12_ROOTFS, by default
# ${XDG_CACHE_HOME:-~/.cache}/centreon-poller-fleet/debian12-rootfs.tar.
#   debian12-rootfs.sh [OUT.tar]          build it unless OUT.tar exists; print its path
#   debian12-rootfs.sh --path [OUT.tar]   print the path only (the tests look, they never build)
set -Eeuo pipefail
only_path=false
if [ "${1:-}" = --path ]; then only_path=true; shift; fi
out=${1:-${DEBIAN12_ROOTFS:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/centreon-poller-fleet/debian12-rootfs.tar}}
# a cached file is trusted only when it is a readable tarball; anything else is built again
if ! $only_path && [ -e "$out" ] && ! { [ -f "$out" ] && [ -s "$out" ] && tar -tf "$out" >/dev/null 2>&1; }; then
  echo "debian12-rootfs.sh: discarding $out: not a readable tarball; building it again" >&2
  rm -rf "$out"
fi
if [ ! -e "$out" ] && ! $only_path; then
  command -v mmdebstrap >/dev/null || { echo "debian12-rootfs.sh: apt-get install mmdebstrap" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  # the temporary name ends in .tar and the format is named (mmdebstrap reads the format from the name)
  tmp="$(dirname "$out")/.debian12-rootfs.$$.tar"
  trap 'rm -rf "$tmp"' EXIT
  mmdebstrap --quiet --variant=apt --include=python3.11 --format=tar bookworm "$tmp"
  tar -tf "$tmp" >/dev/null 2>&1 || { echo "debian12-rootfs.sh: mmdebstrap wrote no tarball" >&2; exit 1; }
  mv "$tmp" "$out"
fi
echo "$out"
