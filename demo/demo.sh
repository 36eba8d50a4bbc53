#!/usr/bin/env bash
# The demo: a small fleet of poller containers in different states on a local Docker daemon,
# and the suite's checks run against it, as an operator (or the Centreon engine) would run them.
#
#   demo.sh         set up (idempotent) and run the checks
#   demo.sh stop    remove the demo containers and stop the private daemon if this started it
#
# It uses the Docker daemon that DOCKER_HOST or /var/run/docker.sock names when one answers;
# otherwise it starts the suite's private test daemon (tests/env/dockerd.sh, loopback only).
# Demo containers run with --network none and are named pfdemo-*.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PY="$VENV/bin/python"
DOCKER_CLI=${DOCKER_CLI:-/usr/bin/docker}
IMAGE=pollerfleet-test/busybox:1

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

pick_daemon() {
  if [ -n "${DOCKER_HOST:-}" ] && "$DOCKER_CLI" -H "$DOCKER_HOST" version >/dev/null 2>&1; then
    DEMO_URL=$DOCKER_HOST
  elif [ -S /var/run/docker.sock ] && "$DOCKER_CLI" -H unix:///var/run/docker.sock version >/dev/null 2>&1; then
    DEMO_URL=unix:///var/run/docker.sock
  else
    bash tests/env/dockerd.sh start
    DEMO_URL="unix://$(bash tests/env/dockerd.sh env | sed -n 's/^PFT_DOCKER_SOCK=//p')"
  fi
}

d() { "$DOCKER_CLI" -H "$DEMO_URL" "$@"; }

container() { # container NAME [--network NET] [docker run args...] IMAGE CMD...
  local name=$1 net=none
  shift
  if [ "${1:-}" = "--network" ]; then
    net=$2
    shift 2
  fi
  d rm -f "$name" >/dev/null 2>&1 || true
  d run -d --name "$name" --network "$net" --init "$@" >/dev/null
}

setup_fleet() {
  bash tests/env/busybox-image.sh "$DEMO_URL" "$IMAGE"
  container pfdemo-engine-ok --health-cmd true --health-interval 2s "$IMAGE" sleep 1000000
  container pfdemo-engine-unhealthy --health-cmd 'echo centengine not running; exit 1' \
    --health-interval 1s --health-retries 1 "$IMAGE" sleep 1000000
  container pfdemo-engine-crashed "$IMAGE" sh -c 'echo "Error: could not load retention"; exit 2'
  # shellcheck disable=SC2016 # expanded by the container's shell, not this one
  container pfdemo-engine-flapping --restart on-failure "$IMAGE" \
    sh -c 'n=$(cat /n 2>/dev/null || echo 0); [ "$n" -ge 4 ] && exec sleep 1000000; echo $((n+1)) >/n; exit 1'
  d rm -f pfdemo-engine-paused >/dev/null 2>&1 || true
  container pfdemo-engine-paused "$IMAGE" sleep 1000000
  d pause pfdemo-engine-paused >/dev/null
  sleep 3 # let health checks and the restart policy settle
}

image_version() { # image_version REPO VERSION: a poller-like image with the real image's labels, pushed
  local ctx
  ctx=$(mktemp -d)
  printf 'FROM %s\nLABEL org.opencontainers.image.version="%s"\nCMD ["sleep", "1000000"]\n' "$IMAGE" "$2" >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 d build -q --network none -t "$1:$2" "$ctx" >/dev/null
  rm -rf "$ctx"
  d push "$1:$2" >/dev/null
}

run() { # run PLUGIN ARGS...: print the command line and what the engine would see
  local plugin=$1 rc=0
  shift
  printf '\n$ %s %s\n' "$plugin" "$*"
  "$PY" "plugins/$plugin" "$@" || rc=$?
  printf '  -> exit %s\n' "$rc"
}

# --- the demo's steps, in the order demo_run takes them ---------------------------------------

DEMO_CFG="${TMPDIR:-/tmp}/pfdemo-fleet.toml"
DEMO_FLEET_CFG="${TMPDIR:-/tmp}/pfdemo-fleet-status.toml"
DEMO_INVENTORY="${TMPDIR:-/tmp}/pfdemo-inventory.yml"

show_host_and_containers() { # the host check, then check_poller_container on each state of setup_fleet
  say "Host check: does the Docker daemon answer?"
  run check_docker_host --docker-url "$DEMO_URL" --warning-latency 500 --critical-latency 2000
  say "Poller containers (check_poller_container), one per state"
  local c
  for c in ok unhealthy crashed flapping paused; do
    run check_poller_container --docker-url "$DEMO_URL" -n "pfdemo-engine-$c" --warning-restarts 3 --critical-restarts 10
  done
  run check_poller_container --docker-url "$DEMO_URL" -n pfdemo-engine-gone
}

start_registry() { # sets REPO: the demo's repository in the suite's private registry
  bash tests/env/registry.sh start
  REGISTRY="$(bash tests/env/registry.sh env | sed -n 's/^PFT_REGISTRY=//p')"
  REPO="$REGISTRY/pfdemo/centreon-engine"
}

write_config() { # two fleet.toml: the private registry over plain HTTP; and with it the demo inventory, for status
  printf '[registry]\nurl = "http://%s"\nallow_http = true\ncache_dir = "%s"\n' "$REGISTRY" "${TMPDIR:-/tmp}/pfdemo-cache" \
    >"$DEMO_CFG"
  { cat "$DEMO_CFG"; printf '[docker]\ntls = false\n[fleet]\ninventory = "%s"\n' "$DEMO_INVENTORY"; } >"$DEMO_FLEET_CFG"
}

show_images() { # two releases pushed, one poller on each: check_poller_image calls one fresh, one stale
  say "Image freshness (check_poller_image) against the private registry"
  local v c
  for v in 19.04.1 19.04.5; do
    image_version "$REPO" "$v"
  done
  container pfdemo-poller-fresh "$REPO:19.04.5"
  container pfdemo-poller-stale "$REPO:19.04.1"
  for c in fresh stale; do
    run check_poller_image --docker-url "$DEMO_URL" -n "pfdemo-poller-$c" --config "$DEMO_CFG" \
      --warning-behind 0 --critical-lag 1
  done
}

show_vmware() { # a host with its connector, a host without, a connector on no shared network
  say "The vmware connector (check_poller_vmware): a host with it, a host without, a broken one"
  d network inspect pfdemo-poller-net >/dev/null 2>&1 || d network create --internal pfdemo-poller-net >/dev/null
  container pfdemo-vm-engine --network pfdemo-poller-net "$REPO:19.04.5"
  container pfdemo-vmware --network pfdemo-poller-net "$IMAGE" \
    sh -c 'mkdir -p /etc/centreon; echo "%Centreon_Vmware_Config = ();" >/etc/centreon/centreon_vmware.pm; exec sleep 1000000'
  container pfdemo-novm-engine "$REPO:19.04.5"
  container pfdemo-vmware-lonely "$IMAGE" sleep 1000000
  run check_poller_vmware --docker-url "$DEMO_URL" -n pfdemo-vmware --engine pfdemo-vm-engine --expect present \
    --config-path /etc/centreon/centreon_vmware.pm
  run check_poller_vmware --docker-url "$DEMO_URL" -n pfdemo-novm-vmware --engine pfdemo-novm-engine --expect absent
  run check_poller_vmware --docker-url "$DEMO_URL" -n pfdemo-vmware-lonely --engine pfdemo-vm-engine --expect present
}

write_inventory() { # the demo fleet as an Ansible inventory: four hosts on the demo daemon, one unreachable
  local h host engine vmware
  {
    echo "all:"
    echo "  children:"
    echo "    pollers:"
    echo "      hosts:"
    for h in poller-fresh:pfdemo-poller-fresh: poller-stale:pfdemo-poller-stale: \
      poller-vmware:pfdemo-vm-engine:pfdemo-vmware poller-novmware:pfdemo-novm-engine:; do
      IFS=: read -r host engine vmware <<<"$h"
      echo "        $host:"
      echo "          poller_docker_url: $DEMO_URL"
      echo "          centreon_poller_engine_name: $engine"
      if [ -n "$vmware" ]; then
        echo "          poller_vmware_enabled: true"
        echo "          centreon_poller_vmware_name: $vmware"
      fi
    done
    echo "        poller-unreachable:"
    echo "          poller_docker_url: tcp://127.0.0.1:9"
  } >"$DEMO_INVENTORY"
}

show_fleet_status() { # the same fleet from one process; its exit code is the worst state, not a failure
  say "The whole demo fleet from one process (pollerfleet status), as the inventory lists it"
  write_inventory
  printf '\n$ pollerfleet status\n'
  "$VENV/bin/pollerfleet" --config "$DEMO_FLEET_CFG" status -t 2 || true
}

show_misconfigured() { # what an operator's mistake looks like: one UNKNOWN line, never a traceback
  say "What a misconfigured check says"
  run check_poller_container -H 127.0.0.1
  run check_poller_container --docker-url "$DEMO_URL" --warning-restarts 10:5
}

demo_run() {
  pick_daemon
  say "Demo fleet on $DEMO_URL"
  setup_fleet
  d ps -a --filter name=^/pfdemo- --format 'table {{.Names}}\t{{.Status}}'
  show_host_and_containers
  start_registry
  write_config
  show_images
  show_vmware
  show_fleet_status
  show_misconfigured
  say "Done. 'make demo-stop' removes the demo containers."
}

demo_stop() { # the demo's containers and network; the registry and daemon only if the suite's scripts started them
  pick_daemon
  d ps -aq --filter name=^/pfdemo- | xargs -r "$DOCKER_CLI" -H "$DEMO_URL" rm -f >/dev/null
  d network rm pfdemo-poller-net >/dev/null 2>&1 || true
  bash tests/env/registry.sh stop
  bash tests/env/dockerd.sh stop
}

case "${1:-run}" in
  run) demo_run ;;
  stop) demo_stop ;;
  *)
    echo "usage: $0 [run|stop]" >&2
    exit 64
    ;;
esac
