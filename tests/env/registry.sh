#!/usr/bin/env bash
# A private Docker registry (Debian docker-registry, registry v2 API) for tests and the demo.
#
#   registry.sh start    plain HTTP on 127.0.0.1:$PFT_REGISTRY_PORT (default 25000), delete enabled
#   registry.sh stop     stop what this script started (by recorded PID only)
#   registry.sh env      print PFT_REGISTRY (host:port) for the tests
#
# The test Docker daemon pushes to it without extra configuration: Docker treats registries on
# 127.0.0.0/8 as insecure (plain HTTP) by default.
set -Eeuo pipefail

PFT_STATE=${PFT_STATE:-/tmp/pft}
PFT_REGISTRY_PORT=${PFT_REGISTRY_PORT:-25000}
REGISTRY=${REGISTRY:-docker-registry}

log() { printf 'registry.sh: %s\n' "$*" >&2; }

alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

answers() { # answers URL
  python3 - "$1" <<'PY'
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1] + "/v2/", timeout=2)
except urllib.error.HTTPError:
    pass  # 401 from an auth registry still means it answers
except Exception:
    sys.exit(1)
PY
}

start_plain() {
  local dir="$PFT_STATE/registry/plain" i
  local url="http://127.0.0.1:$PFT_REGISTRY_PORT"
  mkdir -p "$dir/data"
  if alive "$dir/registry.pid" && answers "$url"; then
    log "reusing registry on $url (pid $(cat "$dir/registry.pid"))"
    return 0
  fi
  command -v "$REGISTRY" >/dev/null || { log "docker-registry not found: apt-get install docker-registry"; return 1; }
  cat >"$dir/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PFT_REGISTRY_PORT
YAML
  setsid "$REGISTRY" serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  for i in $(seq 1 50); do
    answers "$url" && { log "registry up on $url (pid $(cat "$dir/registry.pid"))"; return 0; }
    alive "$dir/registry.pid" || break
    sleep 0.2
  done
  log "registry did not start (after $i tries); last lines of $dir/registry.log:"
  tail -n 20 "$dir/registry.log" >&2 || true
  return 1
}

stop_one() { # stop_one DIR
  local pid
  [ -s "$1/registry.pid" ] || return 0
  pid=$(cat "$1/registry.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    log "registry stopped (pid $pid)"
  fi
  rm -f "$1/registry.pid"
}

case "${1:-}" in
  start) start_plain ;;
  stop)
    for d in "$PFT_STATE"/registry/*/; do
      [ -d "$d" ] && stop_one "${d%/}"
    done
    ;;
  env) echo "PFT_REGISTRY=127.0.0.1:$PFT_REGISTRY_PORT" ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 64
    ;;
esac
