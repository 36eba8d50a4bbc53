#!/usr/bin/env bash
# The build-centreon-poller job: build the poller image of one centreon-engine release and push it.
# Jenkins runs it from the repository root (jenkins/build-centreon-poller.Jenkinsfile); tests run it
# exactly so. Everything comes from the environment, as Jenkins passes it:
#
#   CENTREON_ENGINE_VERSION  the release to build, e.g. 19.04.5 (empty: the one in images/versions)
#   REGISTRY, REPOSITORY     where the image goes (the Jenkinsfile's environment block)
#   REGISTRY_USER, REGISTRY_PASSWORD_FILE  the push account and the file holding its password (the
#                        Jenkinsfile's secret file): images/build.sh logs in into a DOCKER_CONFIG of
#                        its own, removed when the build ends
#   BUILD_NUMBER             Jenkins' build number: the image's VERSION-BUILD tag, never overwritten
#   TAG_LATEST               true: move :latest as well
#   POLLER_BUILD_CONTEXT     the build context (default images/centreon-engine)
#   POLLER_VERSIONS_FILE     the versions file (default images/versions; images/versions.almalinux9)
#   POLLER_DOCKERFILE        the Dockerfile in the context (default Dockerfile; Dockerfile.twin: the
#                            Debian twin, after images/build-twin.sh has imported its root filesystem)
#
# Prints `pushed REPOSITORY:VERSION-BUILD@sha256:...` on success (images/build.sh).
set -Eeuo pipefail

die() { printf 'build-poller.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

[ -x images/build.sh ] || die "run me from the repository root (no images/build.sh here)" 64
version=${CENTREON_ENGINE_VERSION:-}
if [ -n "$version" ] && ! [[ "$version" =~ ^[0-9]+(\.[0-9]+){1,3}$ ]]; then
  die "CENTREON_ENGINE_VERSION '$(printf '%q' "$version")' is not a version like 19.04.5" 64
fi
[ -n "${REGISTRY:-}" ] || die "REGISTRY is not set (the Jenkinsfile's environment names it)" 64
build=${BUILD_NUMBER:-}
[[ "$build" =~ ^[0-9]+$ ]] || die "BUILD_NUMBER '$(printf '%q' "$build")' is not Jenkins' build number" 64

args=(--registry "$REGISTRY" --repository "${REPOSITORY:-centreon/centreon-engine}" --build "$build")
[ -n "$version" ] && args+=(--version "$version")
[ "${TAG_LATEST:-false}" = true ] && args+=(--latest)
if [ -n "${POLLER_BUILD_CONTEXT:-}" ]; then
  args+=(--context "$(realpath -e "$POLLER_BUILD_CONTEXT")") || die "no build context $POLLER_BUILD_CONTEXT" 64
fi
if [ -n "${POLLER_VERSIONS_FILE:-}" ]; then
  args+=(--versions "$(realpath -e "$POLLER_VERSIONS_FILE")") || die "no versions file $POLLER_VERSIONS_FILE" 64
fi
if [ -n "${POLLER_DOCKERFILE:-}" ]; then
  args+=(--dockerfile "$POLLER_DOCKERFILE")
fi
exec images/build.sh "${args[@]}"
