#!/usr/bin/env bash
# The only things the central can do through the poller's sshd (sshd's ForceCommand for `centreon`):
#
#   rsync into engine/ or broker/ of the push directory, as Centreon sends a poller's files:
#     rsync -rlt --delete /var/cache/centreon/config/engine/7/ centreon@poller:engine/
#     rsync -rlt --delete /var/cache/centreon/config/broker/7/ centreon@poller:broker/
#   reload (Centreon's "reload command" for the poller, also `apply`): config-push (as root)
#     verifies the pushed tree, installs it as current/ and reloads the engine; a push that does
#     not verify changes nothing. Prints the verdict; exit 0 only when it was applied.
set -Eeuo pipefail

inbox=${PUSH_DIR:-/var/spool/centreon-push}
wait_s=${PUSH_WAIT:-120}
refuse() { printf 'poller-push: refused: %s\n' "$*" >&2; exit 1; }

read -r -a words <<<"${SSH_ORIGINAL_COMMAND:-}"
[ ${#words[@]} -gt 0 ] || refuse "no command (this account takes pushes: rsync, then reload)"
case "${words[0]}" in
  rsync)
    [ "${words[1]:-}" = --server ] || refuse "rsync without --server"
    [ ${#words[@]} -ge 4 ] || refuse "rsync without a destination"
    for w in "${words[@]:2:${#words[@]}-3}"; do # the options between --server and the destination
      [ "$w" != --sender ] || refuse "nothing is read from this poller"
      [[ "$w" =~ ^(-[A-Za-z.]+|--delete(-[a-z]+)?|--checksum|--safe-links|--no-[a-z-]+|--timeout=[0-9]+|\.)$ ]] ||
        refuse "rsync option '$w'"
    done
    dest=${words[-1]%/}
    case "$dest" in
      engine | broker | "$inbox/engine" | "$inbox/broker") ;;
      *) refuse "rsync destination '${words[-1]}' (engine/ or broker/ only)" ;;
    esac
    cd "$inbox"
    exec "${words[@]}"
    ;;
  reload | apply | restart)
    id="$(date +%s)-$$"
    : >"$inbox/.request-$id"
    for _ in $(seq 1 "$wait_s"); do
      if [ -e "$inbox/.result-$id" ]; then
        result=$(cat "$inbox/.result-$id")
        rm -f "$inbox/.result-$id"
        echo "$result"
        [[ "$result" == OK* ]]
        exit
      fi
      sleep 1
    done
    rm -f "$inbox/.request-$id"
    refuse "config-push gave no verdict within $wait_s s"
    ;;
  *)
    refuse "'${words[0]}' (this account takes pushes: rsync, then reload)"
    ;;
esac
