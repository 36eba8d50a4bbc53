#!/usr/bin/env bash
# The deploy-centreon-poller job: land each named poller host on its target image, health-gated.
# Jenkins runs it from the repository root (jenkins/deploy-centreon-poller.Jenkinsfile); tests run
# it exactly so. Everything comes from the environment, as Jenkins passes its parameters:
#
#   HOSTNAME            one or more inventory host names, separated by spaces (required). Only
#                       a HOSTNAME handed in through the environment counts: bash sets HOSTNAME to
#                       the machine's own name when none is given, and a login profile may export
#                       that; a HOSTNAME that is not exported, or names this agent, is refused
#   POLLER_IMAGE        REPOSITORY:TAG@sha256:DIGEST to deploy; empty = each host's desired image
#                       (`pollerfleet desired`: the newest release, or the host's pin)
#   PREPARE_HOST        true (default): run prepare_host.yml first; false: the poller playbook only
#   REFRESH_VMWARE      true: recreate the vmware connector even though neither its image nor its
#                       configuration repository changed (default false)
#   INVENTORY           the Ansible inventory (default: ansible/inventory/production.yml)
#   ANSIBLE_EXTRA_ARGS  more ansible-playbook options, split on spaces, from this list only:
#                       -v, -vv, -vvv, -vvvv, --diff, --check, --forks=N (e.g. "-v --diff")
#   POLLERFLEET         the pollerfleet command (default: pollerfleet on PATH); its configuration
#                       ([registry] url and credentials) comes from POLLERFLEET_CONFIG or
#                       /etc/pollerfleet/fleet.toml on the agent
#
# Exit 0 only when every named host runs its target digest and is healthy; 64 on bad input
# (nothing deployed); 1 when a host could not be deployed (its previous container runs again).
set -Eeuo pipefail

die() { printf 'deploy-poller.sh: %s\n' "$1" >&2; exit "${2:-1}"; }
say() { printf 'deploy-poller.sh: %s\n' "$*" >&2; }

[ -f ansible/deploy_poller.yml ] || die "run me from the repository root (no ansible/deploy_poller.yml here)" 64

# bash fills HOSTNAME itself (not exported) when the environment has none: that is the agent's
# name, never the job's parameter
hosts_text=''
if [[ "$(declare -p HOSTNAME 2>/dev/null)" == 'declare -x '* ]]; then
  hosts_text=$HOSTNAME
fi
image=${POLLER_IMAGE:-}
prepare=${PREPARE_HOST:-true}
refresh=${REFRESH_VMWARE:-false}
inventory=${INVENTORY:-ansible/inventory/production.yml}
read -r -a pollerfleet <<<"${POLLERFLEET:-pollerfleet}"
[ ${#pollerfleet[@]} -gt 0 ] || die "POLLERFLEET names no command" 64
extra=()
if [ -n "${ANSIBLE_EXTRA_ARGS:-}" ]; then
  read -r -a extra <<<"$ANSIBLE_EXTRA_ARGS"
fi

# --- validate every input before anything runs ------------------------------------------------
label='[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?'
read -r -a hosts <<<"$hosts_text"
[ ${#hosts[@]} -gt 0 ] || die "HOSTNAME is empty: name one or more inventory hosts (the job's HOSTNAME parameter)" 64
agent=$(uname -n)
agent_short=${agent%%.*}
agent_short=${agent_short,,}
for h in "${hosts[@]}"; do
  if [ ${#h} -gt 253 ] || ! [[ "$h" =~ ^$label(\.$label)*$ ]]; then
    die "HOSTNAME: '$(printf '%q' "$h")' is not a valid host name (RFC 1123)" 64
  fi
  # a login profile exports HOSTNAME=<this machine>: the agent is never one of its own pollers
  short=${h%%.*}
  if [ "${h,,}" = "${agent,,}" ] || [ "${short,,}" = "$agent_short" ]; then
    die "HOSTNAME is this agent's own name ($h): the job's HOSTNAME parameter was not passed; name the poller hosts" 64
  fi
done
case "$prepare" in
  true|false) ;;
  *) die "PREPARE_HOST must be true or false, not '$(printf '%q' "$prepare")'" 64 ;;
esac
case "$refresh" in
  true|false) ;;
  *) die "REFRESH_VMWARE must be true or false, not '$(printf '%q' "$refresh")'" 64 ;;
esac
# REPOSITORY:RELEASE-TAG@sha256:<64 hex>: what the operator may give and what `desired` must answer
ref_pattern='^[A-Za-z0-9.:/_-]+:v?[0-9]+(\.[0-9]+){1,3}(-[0-9]+)?@sha256:[0-9a-f]{64}$'
if [ -n "$image" ]; then
  [[ "$image" =~ $ref_pattern ]] ||
    die "POLLER_IMAGE '$(printf '%q' "$image")' is not REPOSITORY:RELEASE-TAG@sha256:<64 hex digits>" 64
fi
[ -r "$inventory" ] || die "INVENTORY $inventory cannot be read" 64
# An allow-list: ansible-playbook accepts prefixes (--extra-var=, --lim=), clusters (-vepoller_image=)
# and options that run commands (--ssh-common-args); the target, hosts and inventory come from the
# job's parameters only.
for arg in ${extra[@]+"${extra[@]}"}; do
  case "$arg" in
    -v|-vv|-vvv|-vvvv|--diff|--check) ;;
    --forks=*)
      [[ "${arg#--forks=}" =~ ^[1-9][0-9]{0,2}$ ]] ||
        die "ANSIBLE_EXTRA_ARGS: --forks takes a number from 1 to 999, not '$(printf '%q' "${arg#--forks=}")'" 64 ;;
    *) die "ANSIBLE_EXTRA_ARGS may not contain '$(printf '%q' "$arg")': only -v, -vv, -vvv, -vvvv, --diff, --check and --forks=N are allowed" 64 ;;
  esac
done

# --- the target of each host: the suite's one rule (or the operator's choice, checked) ----------
# Membership of the inventory, the repository, the release tag, the registry's current digest and
# the host's pin are all checked here, before Ansible runs.
desired_args=(desired --inventory "$inventory")
[ -n "$image" ] && desired_args+=(--image "$image")
targets=$("${pollerfleet[@]}" "${desired_args[@]}" "${hosts[@]}") ||
  die "no target image (see above): nothing deployed" 64
# `desired` relays what the registry answered: check every line again before Ansible sees it
declare -A target=() wanted=()
for h in "${hosts[@]}"; do wanted[$h]=1; done
while read -r h ref rest; do
  [ -n "$h" ] || continue
  if [ -z "${wanted[$h]:-}" ] || [ -n "$rest" ] || [ -n "${target[$h]:-}" ]; then
    die "pollerfleet desired answered an unexpected line for '$(printf '%q' "$h")': nothing deployed" 64
  fi
  [[ "$ref" =~ $ref_pattern ]] ||
    die "pollerfleet desired answered '$(printf '%q' "$ref")' for $h, which is not REPOSITORY:RELEASE-TAG@sha256:<64 hex digits>: nothing deployed" 64
  target[$h]=$ref
done <<<"$targets"
for h in "${hosts[@]}"; do
  [ -n "${target[$h]:-}" ] || die "no target image for $h: nothing deployed" 64
  say "$h -> ${target[$h]}"
done

# Values reach Ansible as data, never as templates: an extra-vars file whose strings are tagged
# !unsafe (a `-e name=value` is a template, and `{{ ... }}` in it would run on the agent).
vars_dir=$(mktemp -d "${TMPDIR:-/tmp}/deploy-poller.XXXXXX")
trap 'rm -rf -- "$vars_dir"' EXIT
q="'"
unsafe() { printf "!unsafe '%s'" "${1//$q/$q$q}"; }  # a YAML single-quoted string: ' doubled
vars_for() {  # the host's extra-vars file: poller_image and poller_vmware_refresh
  local file="$vars_dir/$1.yml"
  {
    printf -- '---\n'
    printf 'poller_image: %s\n' "$(unsafe "${target[$1]}")"
    printf 'poller_vmware_refresh: %s\n' "$refresh"
  } >"$file"
  printf '%s' "$file"
}

export ANSIBLE_CONFIG=${ANSIBLE_CONFIG:-$PWD/ansible/ansible.cfg}
limit=$(IFS=,; echo "${hosts[*]}")

if [ "$prepare" = true ]; then
  say "preparing $limit (prepare_host.yml)"
  ansible-playbook -i "$inventory" ansible/prepare_host.yml --limit "$limit" ${extra[@]+"${extra[@]}"} ||
    die "prepare_host.yml failed for $limit: no poller was touched"
fi

failed=()
for h in "${hosts[@]}"; do
  say "deploying ${target[$h]} on $h (deploy_poller.yml)"
  if ! ansible-playbook -i "$inventory" ansible/deploy_poller.yml --limit "$h" \
      -e "@$(vars_for "$h")" ${extra[@]+"${extra[@]}"}; then
    failed+=("$h")
    continue
  fi
  # the last word is the host's own Docker, read as the image check reads it
  if ! "${pollerfleet[@]}" verify --inventory "$inventory" "$h" "${target[$h]}"; then
    failed+=("$h")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  die "not on their target image: ${failed[*]}"
fi
say "every host runs its target image, healthy: ${hosts[*]}"
