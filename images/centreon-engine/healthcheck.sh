#!/usr/bin/env bash
# Healthy when the poller monitors, not merely when centengine runs:
#   - the engine has been up past supervisord's start time (5 s: not a crash loop), and its command
#     pipe exists (the entrypoint removes a pipe an earlier container left on the mount, so a
#     present one is this engine's);
#   - the engine's status file (status_file of the main file it runs; 19.04 generates
#     /var/log/centreon-engine/status.dat) was written by this engine and says it has run an active
#     check since it started, within HEALTH_CHECK_PERIODS (3) times the shortest check interval of
#     its actively checked hosts and services, at least HEALTH_MIN_WINDOW (30) s, plus
#     status_update_interval (the file's own lag);
#   - where a centreon-broker module (cbmod) is loaded, its statistics (the json_fifo of the
#     module's configuration, what Monitoring > Broker statistics reads) show every endpoint
#     "connected": the module holds its connection to the central. Without statistics in the
#     module's configuration the connection is not judged, and the output says so.
# One line says which conditions were checked: "engine ran checks 12 s ago; broker module: not
# configured". One awk reads the main file and the status file (cheap enough every few seconds on a
# loaded host); python3 (3.6, CentOS 7's) reads the broker statistics, only where cbmod is loaded.
set -Eeuo pipefail
pipe=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd}
if [ -s /run/pollerfleet-no-config ]; then # the entrypoint still waits for a first configuration
  echo "no engine configuration yet: $(head -c 300 /run/pollerfleet-no-config)"
  exit 1
fi
pid=$(pgrep -o -x centengine) || pid=""
if [ -z "$pid" ]; then
  echo "centengine is not running"
  exit 1
fi
# The main file is the engine's last argument; the engine's age (from /proc, in clock ticks of
# 1/100 s on Linux) bounds what counts as its own work. Builtins only, no supervisorctl: on a loaded
# host every fork and every Python start counts against the health check's timeout.
config=""
while IFS= read -r -d '' arg; do config=$arg; done <"/proc/$pid/cmdline"
read -r -a stat <"/proc/$pid/stat"
read -r uptime _ </proc/uptime
up=$((${uptime%.*} - stat[21] / 100))
printf -v now '%(%s)T' -1
# supervisord's startsecs (5): an engine that crashes and is restarted in a loop is never older
if [ "$up" -lt "${ENGINE_START_SECONDS:-5}" ]; then
  echo "centengine started only $up s ago"
  exit 1
fi
if [ ! -p "$pipe" ]; then
  echo "command pipe $pipe is missing"
  exit 1
fi
[ -r "$config" ] || { echo "cannot read the engine's main file $config"; exit 1; }
# one awk reads the main file (the last value of a setting wins, as for the engine), then the status
# file it names; it prints the verdict, and on a second line the cbmod module's arguments, if any
verdict=$(awk -v now="$now" -v up="$up" -v periods="${HEALTH_CHECK_PERIODS:-3}" \
  -v min_window="${HEALTH_MIN_WINDOW:-30}" '
  function fail(why) { print why; exit 1 }
  function value(line) { sub(/^[^=]*=[ \t]*/, "", line); return line }
  /^[ \t]*status_file[ \t]*=/ { path = value($0) }
  /^[ \t]*interval_length[ \t]*=/ { unit = value($0) }
  /^[ \t]*status_update_interval[ \t]*=/ { lag = value($0) }
  # the engine may load several modules: centreon-broker'"'"'s is cbmod.so, its argument its file
  /^[ \t]*broker_module[ \t]*=/ && module == "" { m = value($0); if (m ~ /^[^ \t]*cbmod/) module = m }
  END {
    if (path == "") path = "/var/log/centreon-engine/status.dat"
    while ((read = (getline line < path)) > 0) {
      if (line ~ /^[a-z]+ \{$/) { block = substr(line, 1, index(line, " ") - 1); split("", f); continue }
      if (line ~ /^[ \t]*\}$/) {
        if (block == "programstatus") {
          start = f["program_start"] + 0
          disabled = f["active_service_checks_enabled"] == "0" && f["active_host_checks_enabled"] == "0"
        } else if ((block == "hoststatus" || block == "servicestatus") && f["active_checks_enabled"] == "1" \
                   && f["check_interval"] + 0 > 0) {
          active++
          if (!shortest || f["check_interval"] + 0 < shortest) shortest = f["check_interval"] + 0
          if ((f["check_type"] == "" || f["check_type"] == "0") && f["last_check"] + 0 > last)
            last = f["last_check"] + 0
        }
        block = ""
        continue
      }
      if (block != "" && index(line, "=")) {
        sub(/^[ \t]+/, "", line)
        f[substr(line, 1, index(line, "=") - 1)] = substr(line, index(line, "=") + 1)
      }
    }
    if (read < 0) fail("engine status file " path " not written yet; engine up " up " s")
    if (start < now - up - 5) fail("engine status file " path " is not this engine\047s yet (engine up " up " s)")
    if (disabled) fail("engine executes no checks: active host and service checks are disabled")
    if (!active) fail("engine executes no checks: no host or service is actively checked")
    unit = unit == "" ? 60 : unit + 0
    lag = lag == "" ? 60 : lag + 0
    window = periods * shortest * unit
    if (window < min_window) window = min_window
    if (last < start) fail("engine has run no check since it started " int(now - start) " s ago")
    if (now - last > window + lag)
      fail("engine ran its last check " int(now - last) " s ago (more than " periods " x its shortest interval " \
           shortest * unit " s)")
    print "engine ran checks " (now > last ? int(now - last) : 0) " s ago"
    print module
  }' "$config") || { echo "$verdict"; exit 1; }
engine=${verdict%%$'\n'*}
module=""
if [[ "$verdict" == *$'\n'* ]]; then module=${verdict#*$'\n'}; fi
if [ -z "$module" ]; then
  echo "$engine; broker module: not configured"
  exit 0
fi
read -r _ module_config _ <<<"$module"
exec python3 - "$engine" "${module_config:-}" <<'PY'
import json, os, re, select, sys, time

engine, module_config = sys.argv[1], sys.argv[2]
now = time.time()


class Unhealthy(Exception):
    pass


def fail(why):
    raise Unhealthy(why)


def number(text, default):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def read_stats(path, timeout=3.0):
    """cbmod's statistics: a FIFO it writes a JSON document into for each reader (or a file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ready = select.select([fd], [], [], max(0.0, deadline - time.time()))[0]
            if not ready:
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                if data:
                    break
                time.sleep(0.05)  # no writer yet: cbmod opens the FIFO when a reader waits
                continue
            data += chunk
    finally:
        os.close(fd)
    return data


def broker_part():
    try:
        with open(module_config, errors="replace") as f:
            text = f.read()
    except OSError:
        return "broker module: configured, connection not judged ({} not readable)".format(module_config or "no file")
    fifo = re.search(r'json_fifo(?:>\s*|"\s*:\s*")([^<"\s]+)', text)
    if not fifo:
        return "broker module: configured, connection not judged (no statistics json_fifo in {})".format(module_config)
    try:
        doc = json.loads(read_stats(fifo.group(1)).decode("utf-8", "replace") or "null")
    except OSError as exc:
        fail("broker module: statistics {} not readable ({})".format(fifo.group(1), exc.strerror))
    except ValueError:
        fail("broker module: no statistics from {} within 3 s".format(fifo.group(1)))
    if not isinstance(doc, dict):
        fail("broker module: no statistics from {} within 3 s".format(fifo.group(1)))
    endpoints = {k[len("endpoint "):]: v for k, v in doc.items() if k.startswith("endpoint ") and isinstance(v, dict)}
    if not endpoints:
        fail("broker module: no endpoint in its statistics {}".format(fifo.group(1)))
    for name, e in sorted(endpoints.items()):
        if e.get("state") != "connected":
            success = number(e.get("last_connection_success"), 0)
            since = "never connected" if not success else "last connected {} s ago".format(int(now - success))
            fail("broker module: endpoint {} is {} ({})".format(name, e.get("state", "in no state"), since))
    return "broker module: connected to the central ({})".format(", ".join(sorted(endpoints)))


try:
    print("{}; {}".format(engine, broker_part()))
except Unhealthy as exc:
    print("{}; {}".format(exc, engine))
    sys.exit(1)
PY
