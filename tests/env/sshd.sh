#!/usr/bin/env bash
# A plain sshd on 127.0.0.1 for the config-fetch tests (Debian openssh-server), with a throwaway
# host key and client keys made here.
#
#   sshd.sh start   start it (or reuse it); keys and known_hosts under $PFT_STATE/sshd
#   sshd.sh stop    stop what this script started (by recorded PID only)
#   sshd.sh env     PFT_SSHD_PORT, PFT_SSHD_DIR (client key: id_ed25519; one whose transfers the
#                   server cuts after 2 s: cut_ed25519; docker_ed25519 reaches the test daemon's
#                   dial-stdio, hang_ed25519 a dial-stdio that never answers; known_hosts).
#                   Accounts named pft-fetch-* (made and removed by tests) use their own
#                   ~/.ssh/authorized_keys, as the central's fetch account does.
set -Eeuo pipefail

PFT_STATE=${PFT_STATE:-/tmp/pft}
PFT_SSHD_PORT=${PFT_SSHD_PORT:-22220}
dir="$PFT_STATE/sshd"
SSHD=${SSHD:-/usr/sbin/sshd}

log() { printf 'sshd.sh: %s\n' "$*" >&2; }

alive() { [ -s "$dir/sshd.pid" ] && kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null; }

setup() {
  mkdir -p "$dir"
  chmod 700 "$dir"
  [ -s "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  [ -s "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
  [ -s "$dir/cut_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/cut_ed25519"
  [ -s "$dir/docker_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/docker_ed25519"
  [ -s "$dir/hang_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/hang_ed25519"
  cat >"$dir/cut-transfer" <<'SH'
#!/bin/sh
# Serves rsync slowly and kills the server side after 2 s: a transfer cut mid-way.
# shellcheck disable=SC2086 # the client's command is split into words on purpose
set -- $SSH_ORIGINAL_COMMAND
shift
exec timeout -s KILL 2 rsync --bwlimit=50 "$@"
SH
  chmod 755 "$dir/cut-transfer"
  {
    cat "$dir/id_ed25519.pub"
    printf 'command="%s",no-pty %s\n' "$dir/cut-transfer" "$(cat "$dir/cut_ed25519.pub")"
    # ssh:// Docker URLs: this key reaches the test daemon's API through `docker system dial-stdio`
    printf 'command="/usr/bin/docker -H unix://%s system dial-stdio",no-pty %s\n' \
      "$PFT_STATE/plain/docker.sock" "$(cat "$dir/docker_ed25519.pub")"
    # a Docker host whose dial-stdio accepts the request and never answers (for at most 30 s)
    printf 'command="sleep 30",no-pty %s\n' "$(cat "$dir/hang_ed25519.pub")"
  } >"$dir/authorized_keys"
  printf '[127.0.0.1]:%s %s\n' "$PFT_SSHD_PORT" "$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")" >"$dir/known_hosts"
  cat >"$dir/sshd_config.new" <<CONF
Port $PFT_SSHD_PORT
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
LogLevel ERROR
Subsystem sftp internal-sftp
# throwaway accounts made by the central fetch tests (ansible/roles/centreon_central_fetch): their
# own authorized_keys, as the role writes it, instead of the file above
Match User pft-fetch-*
  AuthorizedKeysFile .ssh/authorized_keys
CONF
  if cmp -s "$dir/sshd_config.new" "$dir/sshd_config"; then
    rm -f "$dir/sshd_config.new"
  else
    mv "$dir/sshd_config.new" "$dir/sshd_config"
    # a daemon started from an older version of this file re-reads it (SIGHUP: sshd re-executes)
    if alive; then
      kill -HUP "$(cat "$dir/sshd.pid")"
      sleep 0.5
    fi
  fi
}

case "${1:-}" in
  start)
    setup
    if alive; then
      log "reusing sshd (pid $(cat "$dir/sshd.pid"))"
      exit 0
    fi
    [ -x "$SSHD" ] || { log "sshd not found: apt-get install openssh-server"; exit 1; }
    mkdir -p /run/sshd
    "$SSHD" -f "$dir/sshd_config" -E "$dir/sshd.log"
    for _ in $(seq 1 50); do
      alive && { log "sshd up on 127.0.0.1:$PFT_SSHD_PORT (pid $(cat "$dir/sshd.pid"))"; exit 0; }
      sleep 0.1
    done
    log "sshd did not start; see $dir/sshd.log"
    exit 1
    ;;
  stop)
    if alive; then
      pid=$(cat "$dir/sshd.pid")
      kill "$pid"
      log "sshd stopped (pid $pid)"
    fi
    rm -f "$dir/sshd.pid"
    ;;
  env)
    echo "PFT_SSHD_PORT=$PFT_SSHD_PORT"
    echo "PFT_SSHD_DIR=$dir"
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 64
    ;;
esac
