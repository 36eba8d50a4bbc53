#!/usr/bin/env bash
# engine-swap.sh ACTION NAME DOCKER_HOST STOP_TIMEOUT LOCK_FILE
#
# The steps of replacing the engine container that must never be cut in half: the role runs them
# detached on the host (Ansible async), so a deploy stopped at any point (Jenkins abort, timeout,
# agent lost) cannot leave the host without a running poller. Each holds LOCK_FILE, so a step still
# running for a dead play finishes before the next run looks at the containers.
#
#   recover   finish what a stopped run left: put a poller back in service when NAME is missing,
#             drop a candidate that never served (NAME-pollerfleet-new), start NAME if it stopped
#   swap      stop NAME (the engine writes its retention), keep it as NAME-pollerfleet-old (or drop
#             it when an older proven one is already kept), rename NAME-pollerfleet-new to NAME,
#             start it; any error puts the old one back
#   rollback  stop and remove NAME, rename NAME-pollerfleet-old back to NAME, start it
#   commit    remove NAME-pollerfleet-old: the new container proved healthy
#
# Prints one line per change ("changed: ..."); exits non-zero with the reason on stderr.
set -Eeuo pipefail

[ $# -eq 5 ] || { echo "usage: engine-swap.sh recover|swap|rollback|commit NAME DOCKER_HOST STOP_TIMEOUT LOCK_FILE" >&2; exit 64; }
action=$1 name=$2 host=$3 timeout=$4 lock=$5
new="$name-pollerfleet-new"
old="$name-pollerfleet-old"

d() { docker -H "$host" "$@"; }
exists() { d container inspect --format '{{.Id}}' "$1" >/dev/null 2>&1; }
running() { [ "$(d container inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }
did() { printf 'changed: %s\n' "$*"; }

stop_and_remove() {
  d stop -t "$timeout" "$1" >/dev/null
  d rm "$1" >/dev/null
}

start_if_stopped() {
  if exists "$name" && ! running "$name"; then
    d start "$name" >/dev/null
    did "started $name"
  fi
}

recover() {
  if ! exists "$name"; then
    if exists "$old"; then
      d rename "$old" "$name"
      did "renamed $old back to $name (a run stopped between the renames)"
    elif exists "$new"; then
      d rename "$new" "$name"
      did "renamed $new to $name (a first deploy stopped before its rename)"
    fi
  fi
  if exists "$new"; then
    d rm -f "$new" >/dev/null
    did "removed $new, which never served"
  fi
  start_if_stopped
}

rollback() {
  if exists "$old"; then
    if exists "$name"; then
      stop_and_remove "$name"
      did "removed the new $name"
    fi
    d rename "$old" "$name"
    did "renamed $old back to $name"
  fi
  start_if_stopped
}

swap() {
  exists "$new" || { echo "engine-swap.sh: no $new to swap in" >&2; exit 1; }
  trap 'echo "engine-swap.sh: the swap failed; putting the previous container back" >&2; recover_after_error' ERR
  if exists "$name"; then
    if exists "$old"; then
      # NAME is a dead run's candidate that never proved healthy: the kept one stays the way back
      stop_and_remove "$name"
      did "removed the unproven $name"
    else
      d stop -t "$timeout" "$name" >/dev/null
      d rename "$name" "$old"
      did "stopped $name and kept it as $old"
    fi
  fi
  d rename "$new" "$name"
  d start "$name" >/dev/null
  did "started the new $name"
  trap - ERR
}

recover_after_error() {
  set +e
  trap - ERR
  if exists "$old"; then
    if exists "$name"; then d rm -f "$name" >/dev/null; fi
    d rename "$old" "$name"
  elif ! exists "$name" && exists "$new"; then
    d rename "$new" "$name"
  fi
  if exists "$name" && ! running "$name"; then d start "$name" >/dev/null; fi
  exit 1
}

commit() {
  if exists "$old"; then
    d rm -f "$old" >/dev/null
    did "removed $old"
  fi
}

exec 9>>"$lock"
flock 9
case "$action" in
  recover) recover ;;
  swap) swap ;;
  rollback) rollback ;;
  commit) commit ;;
  *) echo "engine-swap.sh: unknown action '$action'" >&2; exit 64 ;;
esac
