#!/usr/bin/env bash
# Build the base image every test container starts from: FROM scratch + Debian's static busybox.
# Nothing can be pulled here, so this is the only base. Usage: busybox-image.sh DOCKER_HOST [TAG]
set -Eeuo pipefail
host=${1:?usage: busybox-image.sh DOCKER_HOST [TAG]}
tag=${2:-pollerfleet-test/busybox:1}
docker_cli=${DOCKER_CLI:-/usr/bin/docker}
busybox=${BUSYBOX:-/bin/busybox}

if "$docker_cli" -H "$host" image inspect "$tag" >/dev/null 2>&1; then
  exit 0
fi
[ -x "$busybox" ] || { echo "busybox-image.sh: $busybox missing: apt-get install busybox-static" >&2; exit 1; }
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
cp "$busybox" "$ctx/busybox"
cat >"$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
DOCKERFILE
DOCKER_BUILDKIT=0 "$docker_cli" -H "$host" build --quiet --network none --force-rm -t "$tag" "$ctx" >/dev/null
