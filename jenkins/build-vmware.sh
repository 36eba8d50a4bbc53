#!/usr/bin/env bash
# The build-centreon-vmware job: build the vmware connector image (images/centreon-vmware, on
# VMWARE_BASE_IMAGE from images/versions) and push it. Jenkins runs it from the repository root
# (jenkins/build-centreon-vmware.Jenkinsfile); tests run it exactly so.
#
#   VMWARE_IMAGE_VERSION  the connector release to tag, e.g. 3.2.1 (empty: the one in images/versions,
#                         else the release of the base, VMWARE_BASE_IMAGE=REPO:RELEASE@sha256:...)
#   VMWARE_BASE_IMAGE     (images/versions) the base, pinned by digest: the build refuses anything else
#   REGISTRY, REPOSITORY  where the image goes (the Jenkinsfile's environment block)
#   REGISTRY_USER, REGISTRY_PASSWORD_FILE  the push account and the file holding its password (the
#                        Jenkinsfile's secret file): images/build.sh logs in into a DOCKER_CONFIG of
#                        its own, removed when the build ends
#   BUILD_NUMBER          Jenkins' build number: the image's VERSION-BUILD tag, never overwritten
#
# Prints `pushed REPOSITORY:VERSION-BUILD@sha256:...`: set it as poller_vmware_image in the
# inventory; the next deploy recreates the connectors on it.
set -Eeuo pipefail

die() { printf 'build-vmware.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

[ -x images/build.sh ] || die "run me from the repository root (no images/build.sh here)" 64
version=${VMWARE_IMAGE_VERSION:-}
if [ -n "$version" ] && ! [[ "$version" =~ ^[0-9]+(\.[0-9]+){1,3}$ ]]; then
  die "VMWARE_IMAGE_VERSION '$(printf '%q' "$version")' is not a version like 3.2.1" 64
fi
[ -n "${REGISTRY:-}" ] || die "REGISTRY is not set (the Jenkinsfile's environment names it)" 64
build=${BUILD_NUMBER:-}
[[ "$build" =~ ^[0-9]+$ ]] || die "BUILD_NUMBER '$(printf '%q' "$build")' is not Jenkins' build number" 64

args=(--registry "$REGISTRY" --repository "${REPOSITORY:-centreon/centreon-vmware}" --build "$build"
  --context centreon-vmware --version-arg VMWARE_IMAGE_VERSION
  --require-digest VMWARE_BASE_IMAGE --version-from VMWARE_BASE_IMAGE)
[ -n "$version" ] && args+=(--version "$version")
exec images/build.sh "${args[@]}"
