#!/usr/bin/env bash
# Healthy when supervisord has kept the engine up past its start time (not an engine that crashes
# and is restarted in a loop) and the command pipe exists. The entrypoint removes a pipe left on
# the retention mount by an earlier container, so a present pipe is this engine's.
set -Eeuo pipefail
pipe=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd}
if [ -s /run/pollerfleet-no-config ]; then # the entrypoint still waits for a first configuration
  echo "no engine configuration yet: $(head -c 300 /run/pollerfleet-no-config)"
  exit 1
fi
state=$(supervisorctl -c /etc/supervisord.conf status centengine 2>/dev/null | awk '{print $2}') || true
if [ "$state" != RUNNING ] || ! pgrep -x centengine >/dev/null; then
  echo "centengine is not running (supervisord: ${state:-no answer})"
  exit 1
fi
if [ ! -p "$pipe" ]; then
  echo "command pipe $pipe is missing"
  exit 1
fi
echo "centengine running, command pipe present"
