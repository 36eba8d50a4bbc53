#!/usr/bin/env bash
# Build the Debian 12 twin of the poller image into the daemon DOCKER_HOST names: the production
# image's own supervisord.conf, entrypoint, health check and config fetch client on Debian's
# supervisor, openssh-server, postfix 3 and nagios4 (the engine: same lineage and configuration
# language as Centreon Engine). Centreon's packages and the CentOS/AlmaLinux bases cannot be fetched
# here; Debian's can, from this machine's own apt sources (no mirror is named).
#
#   build-twin.sh TAG
#
# The root filesystem (mmdebstrap, ~30 s, ~280 MB) is cached in TWIN_CACHE_DIR (default
# ${XDG_CACHE_HOME:-~/.cache}/pollerfleet/twin), keyed by the suite and the package list; its
# `docker import` is reused while the daemon has it. The image itself builds with --network none.
set -Eeuo pipefail
cd "$(dirname "$0")"

die() { printf 'build-twin.sh: %s\n' "$1" >&2; exit "${2:-1}"; }
log() { printf 'build-twin.sh: %s\n' "$*" >&2; }

[ $# -eq 1 ] || die "usage: build-twin.sh TAG" 64
tag=$1
[[ "$tag" =~ ^[a-z0-9]+([._/:-][A-Za-z0-9]+)*$ ]] || die "'$tag' is not an image reference" 64
[ -n "${DOCKER_HOST:-}" ] || die "DOCKER_HOST is not set: name the daemon to build into" 64

DOCKER=${DOCKER:-docker}
export DOCKER_BUILDKIT=0 # the legacy builder: --network none, no buildx needed
suite=bookworm
packages=supervisor,openssh-server,postfix,bsd-mailx,nagios4-core,python3,rsync,procps
key=$(printf '%s\n' "$suite" "--variant=apt" "$packages" | sha256sum | cut -c1-16)
cache=${TWIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/pollerfleet/twin}
rootfs="$cache/rootfs-$suite-$key.tar"
base="pollerfleet/twin-rootfs:$suite-$key"

# A cached root filesystem is used only when it is a readable tarball: anything else (a directory
# an older build left under the .tar name, a truncated file) is discarded and built again.
if [ -e "$rootfs" ] && ! { [ -f "$rootfs" ] && [ -s "$rootfs" ] && tar -tf "$rootfs" >/dev/null 2>&1; }; then
  log "discarding $rootfs: not a readable tarball; building it again"
  rm -rf "$rootfs"
  "$DOCKER" image rm "$base" >/dev/null 2>&1 || true
fi
if [ ! -e "$rootfs" ]; then
  command -v mmdebstrap >/dev/null || die "mmdebstrap is missing: apt-get install mmdebstrap"
  mkdir -p "$cache"
  # the temporary name ends in .tar and the format is named: mmdebstrap picks its output format
  # from the name otherwise, and anything not ending in .tar becomes a directory
  tmp="$cache/.rootfs-$suite-$key.$$.tar"
  trap 'rm -rf "$tmp"' EXIT
  log "making the $suite root filesystem ($packages) into $rootfs"
  mmdebstrap --quiet --variant=apt --format=tar --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    "$suite" "$tmp" || die "mmdebstrap failed"
  { [ -f "$tmp" ] && tar -tf "$tmp" >/dev/null 2>&1; } || die "mmdebstrap did not write a tarball at $tmp"
  mv "$tmp" "$rootfs"
  trap - EXIT
fi

if ! "$DOCKER" image inspect "$base" >/dev/null 2>&1; then
  log "importing $rootfs as $base"
  "$DOCKER" import "$rootfs" "$base" >/dev/null || die "docker import failed"
fi
# Dockerfile.twin's default base: images/build.sh --dockerfile Dockerfile.twin builds on it too
"$DOCKER" tag "$base" "pollerfleet/twin-rootfs:$suite" || die "docker tag failed"

log "building $tag on $base"
"$DOCKER" build --network none --build-arg "TWIN_BASE=$base" \
  --build-arg "BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --build-arg "VCS_REF=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -f centreon-engine/Dockerfile.twin -t "$tag" centreon-engine >&2 || die "docker build of $tag failed"
echo "built $tag"
