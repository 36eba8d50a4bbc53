#!/usr/bin/env bash
# Build a poller image, tag it REGISTRY/REPOSITORY:VERSION-BUILD, :VERSION (and :latest), push it,
# and print the pushed digest. Versions come from ./versions; the same names in the environment win
# (the Jenkins job passes CENTREON_ENGINE_VERSION).
#
#   build.sh --registry registry.example.com:5000 [--repository centreon/centreon-engine]
#            [--version 19.04.5] [--build N] [--latest] [--context DIR] [--versions FILE]
#            [--no-push] [--dry-run] [--version-arg NAME] [--dockerfile NAME]
#            [--require-digest KEY] [--version-from KEY]
#
# --versions picks another versions file (e.g. versions.almalinux9 for a modern base).
# --version-arg names the versions key that --version sets and the tags carry (default
# CENTREON_ENGINE_VERSION; the vmware connector image uses VMWARE_IMAGE_VERSION). --dockerfile
# names the Dockerfile in the context (default Dockerfile; Dockerfile.twin: the Debian twin, whose
# root filesystem images/build-twin.sh imports first).
# --require-digest KEY: the versions key KEY (an image) must be pinned REPOSITORY[:TAG]@sha256:DIGEST.
# --version-from KEY: when the version key is empty, the version is the tag of the image KEY names
# (the vmware connector's release follows its base's).
# --build defaults to $BUILD_NUMBER (Jenkins), else 1. An existing VERSION-BUILD tag is never
# overwritten. DOCKER_HOST selects the daemon; DOCKER_BUILD_ARGS adds options to `docker build`
# (e.g. "--network none"); REGISTRY_URL is the registry API base (default https://REGISTRY).
# Whether VERSION-BUILD exists is asked with docker's own credentials ($DOCKER_CONFIG/config.json)
# and CA (/etc/docker/certs.d/REGISTRY/, or $DOCKER_CERTS_D): tag-exists.py. REGISTRY_USER with
# REGISTRY_PASSWORD_FILE logs in first, into a DOCKER_CONFIG of this build only (removed at the end).
set -Eeuo pipefail
cd "$(dirname "$0")"

die() { printf 'build.sh: %s\n' "$*" >&2; exit "${2:-1}"; }
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

DOCKER=${DOCKER:-docker}
context=centreon-engine
registry=${REGISTRY:-}
repository=${REPOSITORY:-centreon/centreon-engine}
build=${BUILD_NUMBER:-1}
version_arg=""
latest=false
push=true
dry_run=false
versions_file=versions
version_key=CENTREON_ENGINE_VERSION
dockerfile=Dockerfile
require_digest=()
version_from=""

while [ $# -gt 0 ]; do
  case "$1" in
    --registry) registry=${2:?--registry needs a value}; shift 2 ;;
    --repository) repository=${2:?--repository needs a value}; shift 2 ;;
    --version) version_arg=${2:?--version needs a value}; shift 2 ;;
    --build) build=${2:?--build needs a value}; shift 2 ;;
    --context) context=${2:?--context needs a value}; shift 2 ;;
    --versions) versions_file=${2:?--versions needs a value}; shift 2 ;;
    --version-arg) version_key=${2:?--version-arg needs a value}; shift 2 ;;
    --dockerfile) dockerfile=${2:?--dockerfile needs a value}; shift 2 ;;
    --require-digest) require_digest+=("${2:?--require-digest needs a value}"); shift 2 ;;
    --version-from) version_from=${2:?--version-from needs a value}; shift 2 ;;
    --latest) latest=true; shift ;;
    --no-push) push=false; shift ;;
    --dry-run) dry_run=true; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" 64 ;;
  esac
done

# versions: KEY=value lines; the environment (or --version) wins
# (bash 4.2 on EL7 agents: an empty array's "${a[@]}" is an error under set -u, so every list that
# may be empty is expanded as ${a[@]+"${a[@]}"}; tests/bash42.py checks it in `make lint`)
declare -A v=()
keys=()
while IFS='=' read -r key value; do
  case "$key" in ''|'#'*) continue ;; esac
  [[ "$key" =~ ^[A-Z][A-Z0-9_]*$ ]] || die "versions: bad key '$key'"
  [ -n "${v[$key]+set}" ] || keys+=("$key")
  v[$key]=${!key:-$value}
done <"$versions_file"
[[ "$version_key" =~ ^[A-Z][A-Z0-9_]*_VERSION$ ]] || die "--version-arg '$version_key' is not a NAME_VERSION key" 64
if [ -n "$version_arg" ]; then
  [ -n "${v[$version_key]+set}" ] || keys+=("$version_key")
  v[$version_key]=$version_arg
fi
for key in ${require_digest[@]+"${require_digest[@]}"}; do
  [[ "${v[$key]:-}" =~ ^[a-z0-9]+([._/:-][a-z0-9]+)*@sha256:[0-9a-f]{64}$ ]] ||
    die "$key '${v[$key]:-}' is not pinned by digest (REPOSITORY:RELEASE@sha256:<64 hex>): pin the base you tested (see $versions_file)" 64
done
if [ -z "${v[$version_key]:-}" ] && [ -n "$version_from" ]; then
  base_tag=${v[$version_from]:-}
  base_tag=${base_tag%@*}
  if [[ "$base_tag" =~ :([^:/]+)$ ]]; then
    [ -n "${v[$version_key]+set}" ] || keys+=("$version_key")
    v[$version_key]=${BASH_REMATCH[1]}
  fi
fi
version=${v[$version_key]:-}

[[ "$version" =~ ^[0-9]+(\.[0-9]+){1,3}$ ]] || die "$version_key '$version' is not a version like 19.04.5" 64
[[ "$build" =~ ^[0-9]+$ ]] || die "build number '$build' is not a number" 64
[ -n "$registry" ] || die "no registry: give --registry HOST[:PORT] or set REGISTRY" 64
[[ "$registry" =~ ^[A-Za-z0-9.-]+(:[0-9]+)?$ ]] || die "registry '$registry' is not HOST[:PORT]" 64
[[ "$repository" =~ ^[a-z0-9]+([._/-][a-z0-9]+)*$ ]] || die "repository '$repository' is not a valid name" 64
[[ "$dockerfile" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "--dockerfile '$dockerfile' is not a file name" 64
[ -f "$context/$dockerfile" ] || die "no $dockerfile in $context" 64

image="$registry/$repository"
full="$image:$version-$build"
tags=("$full" "$image:$version")
$latest && tags+=("$image:latest")
api=${REGISTRY_URL:-https://$registry}

# The job's own login (REGISTRY_USER, and the password in the file REGISTRY_PASSWORD_FILE, e.g. a
# Jenkins secret file): in a DOCKER_CONFIG of this build only, removed when it ends, so the agent
# user's ~/.docker never holds the push credentials.
if [ -n "${REGISTRY_USER:-}" ]; then
  [ -r "${REGISTRY_PASSWORD_FILE:-}" ] || die "REGISTRY_USER is set but REGISTRY_PASSWORD_FILE names no readable file" 64
  DOCKER_CONFIG=$(mktemp -d "${WORKSPACE_TMP:-${TMPDIR:-/tmp}}/docker-config.XXXXXX")
  export DOCKER_CONFIG
  trap 'rm -rf "$DOCKER_CONFIG"' EXIT
  if ! $dry_run; then
    "$DOCKER" login --username "$REGISTRY_USER" --password-stdin "$registry" <"$REGISTRY_PASSWORD_FILE" >&2 ||
      die "docker login to $registry as $REGISTRY_USER failed"
  fi
fi

run() { # the command line and its output go to stderr; stdout carries only the result
  printf '+ %s\n' "$*" >&2
  $dry_run || "$@" >&2
}

# never overwrite VERSION-BUILD: ask the registry first, with the credentials and the CA docker uses
# (tag-exists.py: $DOCKER_CONFIG/config.json, /etc/docker/certs.d/REGISTRY/)
known=0
"${PYTHON:-python3}" tag-exists.py "$registry" "$repository" "$version-$build" || known=$?
case "$known" in
  0) die "$full already exists in the registry: refusing to overwrite it (use another --build)" 3 ;;
  1) ;;
  2) $push && die "cannot push $full: the registry refused the credentials (see above); log in first" 1 ;;
  *) $push && die "cannot ask the registry $api whether $full exists (see above)" 1 ;;
esac

build_args=(--build-arg "BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)")
for key in ${keys[@]+"${keys[@]}"}; do
  build_args+=(--build-arg "$key=${v[$key]}")
done
build_args+=(--build-arg "VCS_REF=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)")
extra=()
if [ -n "${DOCKER_BUILD_ARGS:-}" ]; then
  read -r -a extra <<<"$DOCKER_BUILD_ARGS"
fi

run "$DOCKER" build ${extra[@]+"${extra[@]}"} "${build_args[@]}" -f "$context/$dockerfile" -t "$full" "$context"
for tag in "${tags[@]:1}"; do
  run "$DOCKER" tag "$full" "$tag"
done
$push || { echo "built $full (not pushed)"; exit 0; }

digest=""
for tag in "${tags[@]}"; do
  printf '+ %s push %s\n' "$DOCKER" "$tag" >&2
  out=""
  $dry_run || out=$("$DOCKER" push "$tag") || die "push of $tag failed"
  printf '%s\n' "$out" >&2
  [ "$tag" = "$full" ] && digest=$(sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p' <<<"$out" | tail -n 1)
done
$dry_run && { echo "dry run: nothing built or pushed"; exit 0; }
[ -n "$digest" ] || die "the registry did not report a digest for $full"
echo "pushed $full@$digest"
