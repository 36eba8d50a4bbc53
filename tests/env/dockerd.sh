#!/usr/bin/env bash
# Private Docker daemons for tests and the demo (CONTRIBUTING.md, "Real components, not mocks").
#
#   dockerd.sh start       start the plain test daemon (unix socket + tcp://127.0.0.1:PORT), or reuse it
#   dockerd.sh start-tls   start the TLS daemon (client certs required) with a throwaway CA, or reuse it
#   dockerd.sh stop        stop what this script started (by recorded PID only)
#   dockerd.sh env         print the variables the tests read (PFT_DOCKER_SOCK, ...)
#
# Everything lives under $PFT_STATE (default /tmp/pft). Nothing listens beyond 127.0.0.1, no bridge,
# no iptables: containers run with --network none or on --internal networks.
set -Eeuo pipefail

PFT_STATE=${PFT_STATE:-/tmp/pft}
PFT_DOCKER_PORT=${PFT_DOCKER_PORT:-23750}
PFT_DOCKER_TLS_PORT=${PFT_DOCKER_TLS_PORT:-23760}
DOCKERD=${DOCKERD:-dockerd}
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}

log() { printf 'dockerd.sh: %s\n' "$*" >&2; }

alive() { # alive PIDFILE
  local pid
  [ -s "$1" ] || return 1
  pid=$(cat "$1")
  kill -0 "$pid" 2>/dev/null
}

wait_ready() { # wait_ready SOCKET PIDFILE LOG
  local i
  for i in $(seq 1 120); do
    if "$DOCKER_CLI" -H "unix://$1" version >/dev/null 2>&1; then
      return 0
    fi
    if ! alive "$2"; then
      log "dockerd exited during start-up; last lines of $3:"
      tail -n 20 "$3" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "dockerd did not answer on $1 within 60 s; see $3"
  return 1
}

start_daemon() { # start_daemon NAME TCP_HOST [extra dockerd args...]
  local name=$1 tcp=$2
  shift 2
  local dir="$PFT_STATE/$name"
  local pidfile="$dir/dockerd.pid" sock="$dir/docker.sock" logf="$dir/dockerd.log"
  mkdir -p "$dir/data" "$dir/exec"
  if alive "$pidfile" && "$DOCKER_CLI" -H "unix://$sock" version >/dev/null 2>&1; then
    log "reusing $name daemon (pid $(cat "$pidfile"))"
    return 0
  fi
  if [ -S "$sock" ] && "$DOCKER_CLI" -H "unix://$sock" version >/dev/null 2>&1; then
    log "reusing $name daemon on $sock (not started by this script)"
    return 0
  fi
  command -v "$DOCKERD" >/dev/null || { log "dockerd not found: apt-get install docker.io"; return 1; }
  rm -f "$sock"
  # setsid: the daemon must not die with the shell or the pytest process that started it.
  setsid "$DOCKERD" \
    --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$dir/daemon.pid" \
    --host "unix://$sock" --host "$tcp" \
    --bridge=none --iptables=false --ip-masq=false \
    --userland-proxy=false --log-level=warn "$@" \
    </dev/null >"$logf" 2>&1 &
  echo $! >"$pidfile"
  wait_ready "$sock" "$pidfile" "$logf"
  log "$name daemon up (pid $(cat "$pidfile")) on unix://$sock and $tcp"
}

make_certs() {
  local d="$PFT_STATE/tls"
  mkdir -p "$d/server" "$d/client" "$d/wrongca" "$d/badclient"
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pollerfleet test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
      -keyout server/key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
      -extfile server.ext -out server/cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=pollerfleet-central" \
      -keyout client/key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
      -extfile client.ext -out client/cert.pem 2>/dev/null
    cp ca.pem server/ca.pem
    cp ca.pem client/ca.pem
    # A directory whose CA did not sign the server: verification must fail.
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=some other CA" \
      -keyout wrongca/ca-key.pem -out wrongca/ca.pem 2>/dev/null
    cp client/cert.pem client/key.pem wrongca/
    # The right CA but a client certificate the daemon's CA did not sign: the daemon refuses it.
    openssl req -newkey rsa:2048 -nodes -subj "/CN=intruder" \
      -keyout badclient/key.pem -out badclient.csr 2>/dev/null
    openssl x509 -req -in badclient.csr -CA wrongca/ca.pem -CAkey wrongca/ca-key.pem \
      -CAcreateserial -days 30 -extfile client.ext -out badclient/cert.pem 2>/dev/null
    cp ca.pem badclient/ca.pem
    chmod 600 ./*key.pem server/key.pem client/key.pem wrongca/*key.pem badclient/key.pem
  )
}

stop_daemon() { # stop_daemon NAME
  local dir="$PFT_STATE/$1" pid i
  [ -s "$dir/dockerd.pid" ] || return 0
  pid=$(cat "$dir/dockerd.pid")
  if kill -0 "$pid" 2>/dev/null; then
    # Containers first, so their shims do not outlive the daemon.
    "$DOCKER_CLI" -H "unix://$dir/docker.sock" ps -aq 2>/dev/null \
      | xargs -r "$DOCKER_CLI" -H "unix://$dir/docker.sock" rm -f >/dev/null 2>&1 || true
    kill "$pid"
    for i in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    log "$1 daemon stopped (pid $pid, after ${i} waits)"
  fi
  rm -f "$dir/dockerd.pid"
}

case "${1:-}" in
  start)
    start_daemon plain "tcp://127.0.0.1:$PFT_DOCKER_PORT"
    ;;
  start-tls)
    if [ ! -s "$PFT_STATE/tls/badclient/cert.pem" ]; then
      stop_daemon tlsd # a daemon still running holds certificates of a CA that is about to change
      make_certs
    fi
    start_daemon tlsd "tcp://127.0.0.1:$PFT_DOCKER_TLS_PORT" --tlsverify \
      --tlscacert "$PFT_STATE/tls/server/ca.pem" --tlscert "$PFT_STATE/tls/server/cert.pem" \
      --tlskey "$PFT_STATE/tls/server/key.pem"
    ;;
  stop)
    stop_daemon tlsd
    stop_daemon plain
    ;;
  env)
    cat <<ENV
PFT_DOCKER_SOCK=$PFT_STATE/plain/docker.sock
PFT_DOCKER_TCP=tcp://127.0.0.1:$PFT_DOCKER_PORT
PFT_DOCKER_TLS_TCP=tcp://127.0.0.1:$PFT_DOCKER_TLS_PORT
PFT_TLS_DIR=$PFT_STATE/tls
ENV
    ;;
  *)
    echo "usage: $0 start|start-tls|stop|env" >&2
    exit 64
    ;;
esac
