#!/usr/bin/env bash
# A private Docker registry (Debian docker-registry, registry v2 API) for tests and the demo.
#
#   registry.sh start    plain HTTP on 127.0.0.1:$PFT_REGISTRY_PORT (default 25000), delete enabled
#   registry.sh start-auth  htpasswd basic auth + TLS (its own CA) on 127.0.0.1:$PFT_REGISTRY_AUTH_PORT
#                        (default 25001); user "pollerfleet", password in $PFT_STATE/registry/auth/password
#   registry.sh stop     stop what this script started (by recorded PID only)
#   registry.sh env      print PFT_REGISTRY (host:port) for the tests
#
# The test Docker daemon pushes to it without extra configuration: Docker treats registries on
# 127.0.0.0/8 as insecure (plain HTTP) by default.
set -Eeuo pipefail

PFT_STATE=${PFT_STATE:-/tmp/pft}
PFT_REGISTRY_PORT=${PFT_REGISTRY_PORT:-25000}
PFT_REGISTRY_AUTH_PORT=${PFT_REGISTRY_AUTH_PORT:-25001}
REGISTRY=${REGISTRY:-docker-registry}

log() { printf 'registry.sh: %s\n' "$*" >&2; }

alive() {
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

answers() { # answers URL
  python3 - "$1" <<'PY'
import ssl, sys, urllib.request, urllib.error
try:
    # a liveness probe of our own test registry on 127.0.0.1: its CA is checked by the tests
    urllib.request.urlopen(sys.argv[1] + "/v2/", timeout=2, context=ssl._create_unverified_context())

except urllib.error.HTTPError:
    pass  # 401 from an auth registry still means it answers
except Exception:
    sys.exit(1)
PY
}

make_auth_material() { # make_auth_material DIR: CA, server cert for 127.0.0.1, htpasswd
  local d=$1
  [ -s "$d/users.htpasswd" ] && [ -s "$d/server-cert.pem" ] && return 0
  (
    cd "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pollerfleet registry test CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout server-key.pem -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 30 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    local secret
    secret=$(openssl rand -hex 12)
    printf '%s\n' "$secret" >password
    chmod 600 password ./*key.pem
    htpasswd -Bbn pollerfleet "$secret" >users.htpasswd
  )
}

start_registry() { # start_registry NAME PORT SCHEME [extra YAML for the http section and auth]
  local name=$1 port=$2 scheme=$3 extra=${4:-}
  local dir="$PFT_STATE/registry/$name" i
  local url="$scheme://127.0.0.1:$port"
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
  addr: 127.0.0.1:$port
$extra
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
  start) start_registry plain "$PFT_REGISTRY_PORT" http ;;
  start-auth)
    mkdir -p "$PFT_STATE/registry/auth"
    make_auth_material "$PFT_STATE/registry/auth"
    a="$PFT_STATE/registry/auth"
    start_registry auth "$PFT_REGISTRY_AUTH_PORT" https "  tls:
    certificate: $a/server-cert.pem
    key: $a/server-key.pem
auth:
  htpasswd:
    realm: pollerfleet-test
    path: $a/users.htpasswd"
    ;;
  stop)
    for d in "$PFT_STATE"/registry/*/; do
      [ -d "$d" ] && stop_one "${d%/}"
    done
    ;;
  env)
    echo "PFT_REGISTRY=127.0.0.1:$PFT_REGISTRY_PORT"
    echo "PFT_REGISTRY_AUTH=127.0.0.1:$PFT_REGISTRY_AUTH_PORT"
    echo "PFT_REGISTRY_AUTH_DIR=$PFT_STATE/registry/auth"
    ;;

  *)
    echo "usage: $0 start|start-auth|stop|env" >&2

    exit 64
    ;;
esac
