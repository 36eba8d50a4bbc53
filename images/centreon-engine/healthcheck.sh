#!/usr/bin/env bash
# Healthy when the poller monitors, not merely when centengine runs:
#   - supervisord has kept the engine up past its start time, and its command pipe exists (the
#     entrypoint removes a pipe an earlier container left on the mount, so a present one is this
#     engine's);
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
# configured". Python 3.6 (CentOS 7's python3) for the file parsing.
set -Eeuo pipefail
pipe=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd}
if [ -s /run/pollerfleet-no-config ]; then # the entrypoint still waits for a first configuration
  echo "no engine configuration yet: $(head -c 300 /run/pollerfleet-no-config)"
  exit 1
fi
state=$(supervisorctl -c /etc/supervisord.conf status centengine 2>/dev/null | awk '{print $2}') || true
pid=$(pgrep -o -x centengine) || pid=""
if [ "$state" != RUNNING ] || [ -z "$pid" ]; then
  echo "centengine is not running (supervisord: ${state:-no answer})"
  exit 1
fi
if [ ! -p "$pipe" ]; then
  echo "command pipe $pipe is missing"
  exit 1
fi
# the main file is the engine's last argument; its start time bounds what counts as its own work
config=$(tr '\0' '\n' <"/proc/$pid/cmdline" | tail -n 1)
up=$(ps -o etimes= -p "$pid" | tr -d ' ')
exec python3 - "$config" "$up" <<'PY'
import json, os, re, select, sys, time

config, up = sys.argv[1], int(sys.argv[2])
now = time.time()
started = now - up
periods = int(os.environ.get("HEALTH_CHECK_PERIODS") or 3)
min_window = int(os.environ.get("HEALTH_MIN_WINDOW") or 30)


class Unhealthy(Exception):
    pass


def fail(why):
    raise Unhealthy(why)


def main_settings(path):
    found = {"broker_module": []}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                key, sep, value = line.strip().partition("=")
                if sep and not key.startswith("#"):
                    if key == "broker_module":
                        found[key].append(value.strip())
                    else:
                        found[key] = value.strip()
    except OSError as exc:
        fail("cannot read the engine's main file {}: {}".format(path, exc.strerror))
    return found


def number(text, default):
    try:
        return float(text)
    except (TypeError, ValueError):
        return default


def status_blocks(path):
    blocks = []
    with open(path, errors="replace") as f:
        entry = None
        for line in f:
            line = line.strip()
            if line.endswith("{"):
                entry = {"": line[:-1].strip()}
            elif line == "}":
                if entry is not None:
                    blocks.append(entry)
                entry = None
            elif entry is not None:
                key, _, value = line.partition("=")
                entry[key] = value
    return blocks


def engine_part(s):
    path = s.get("status_file") or "/var/log/centreon-engine/status.dat"
    try:
        blocks = status_blocks(path)
    except OSError as exc:
        fail("engine status file {} not readable ({}); engine up {} s".format(path, exc.strerror, up))
    program = next((b for b in blocks if b[""] == "programstatus"), {})
    start = number(program.get("program_start"), 0)
    if start < started - 5:
        fail("engine status file {} is not this engine's yet (engine up {} s)".format(path, up))
    if program.get("active_service_checks_enabled") == "0" and program.get("active_host_checks_enabled") == "0":
        fail("engine executes no checks: active host and service checks are disabled")
    unit = number(s.get("interval_length"), 60) or 60
    active = [
        b
        for b in blocks
        if b[""] in ("hoststatus", "servicestatus")
        and b.get("active_checks_enabled") == "1"
        and number(b.get("check_interval"), 0) > 0
    ]
    if not active:
        fail("engine executes no checks: no host or service is actively checked")
    shortest = min(number(b.get("check_interval"), 0) for b in active) * unit
    window = max(periods * shortest, min_window) + number(s.get("status_update_interval"), 60)
    last = max((number(b.get("last_check"), 0) for b in active if b.get("check_type", "0") == "0"), default=0)
    if last < start:
        fail("engine has run no check since it started {} s ago".format(int(now - start)))
    if now - last > window:
        fail(
            "engine ran its last check {} s ago (more than {} x its shortest interval {:g} s)".format(
                int(now - last), periods, shortest
            )
        )
    return "engine ran checks {} s ago".format(max(0, int(now - last)))


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


def broker_part(s):
    modules = [m for m in s["broker_module"] if "cbmod" in m.split(" ", 1)[0]]
    if not modules:
        return "broker module: not configured"
    args = modules[0].split()
    module_config = args[1] if len(args) > 1 else ""
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
    settings = main_settings(config)
    engine = engine_part(settings)
except Unhealthy as exc:
    print(exc)
    sys.exit(1)
try:
    print("{}; {}".format(engine, broker_part(settings)))
except Unhealthy as exc:
    print("{}; {}".format(exc, engine))
    sys.exit(1)
PY
