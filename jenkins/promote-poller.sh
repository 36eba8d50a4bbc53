#!/usr/bin/env bash
# The promote-centreon-poller job: move canary promotion's tags in the registry (docs/architecture.md,
# "Canary promotion"). It runs on the agent that holds the registry's push rights; the central's
# reconcile and `pollerfleet promote|block|unblock` trigger it. Everything comes from the environment,
# as Jenkins passes its parameters:
#
#   ACTION        promote (the channel tag names the image), block (a blocked-<hex> tag on it) or
#                 unblock (that tag re-pointed at the promoted image: the registry cannot delete a tag alone)
#   POLLER_IMAGE  REPOSITORY:RELEASE-TAG@sha256:DIGEST, the candidate
#   POLLERFLEET   the pollerfleet command (default: pollerfleet on PATH); its configuration ([registry]
#                 url and the push credentials) comes from POLLERFLEET_CONFIG or /etc/pollerfleet/fleet.toml
#
# Exit 0 when the tag is moved; 64 on bad input (nothing written); 1 when the registry refused.
set -Eeuo pipefail

die() { printf 'promote-poller.sh: %s\n' "$1" >&2; exit "${2:-1}"; }

action=${ACTION:-}
image=${POLLER_IMAGE:-}
read -r -a pollerfleet <<<"${POLLERFLEET:-pollerfleet}"
[ ${#pollerfleet[@]} -gt 0 ] || die "POLLERFLEET names no command" 64
case "$action" in
  promote|block|unblock) ;;
  *) die "ACTION must be promote, block or unblock, not '$(printf '%q' "$action")'" 64 ;;
esac
ref_pattern='^[A-Za-z0-9.:/_-]+:v?[0-9]+(\.[0-9]+){1,3}(-[0-9]+)?@sha256:[0-9a-f]{64}$'
[[ "$image" =~ $ref_pattern ]] ||
  die "POLLER_IMAGE '$(printf '%q' "$image")' is not REPOSITORY:RELEASE-TAG@sha256:<64 hex digits>" 64

"${pollerfleet[@]}" channel "$action" "$image" || die "the registry tag for $action of $image was not moved"
