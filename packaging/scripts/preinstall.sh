#!/bin/sh
# The engine's user owns the suite's state, cache and log directories and reads its configuration.
# Centreon's engine package creates that user; create it here only where it does not exist yet
# (a central installed in another order, or a host that only runs pollerfleet).
set -e
if ! getent group centreon-engine >/dev/null 2>&1; then
  groupadd --system centreon-engine
fi
if ! getent passwd centreon-engine >/dev/null 2>&1; then
  useradd --system --gid centreon-engine --home-dir /var/lib/centreon-engine --no-create-home \
    --shell /usr/sbin/nologin --comment "Centreon Engine" centreon-engine
fi
