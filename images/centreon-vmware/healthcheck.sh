#!/usr/bin/env bash
# Healthy when something listens on the connector's port (5700, ZeroMQ), read from /proc.
set -Eeuo pipefail
port=${VMWARE_PORT:-5700}
hex=$(printf '%04X' "$port")
if grep -qE "^ *[0-9]+: [0-9A-F]+:${hex} [0-9A-F]+:0000 0A " /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
  echo "port $port listens"
  exit 0
fi
echo "nothing listens on port $port"
exit 1
