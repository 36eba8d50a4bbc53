#!/usr/bin/env bash
# Healthy when the engine process runs and its external command pipe exists.
set -Eeuo pipefail
pipe=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd}
if ! pgrep -x centengine >/dev/null; then
  echo "centengine is not running"
  exit 1
fi
if [ ! -p "$pipe" ]; then
  echo "command pipe $pipe is missing"
  exit 1
fi
echo "centengine running, command pipe present"
