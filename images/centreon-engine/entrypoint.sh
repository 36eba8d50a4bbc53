#!/usr/bin/env bash
# Fetch this poller's configuration from the central (keeping the last good one when that fails),
# then hand over to supervisord. Only "no configuration at all" stops the container.
set -Eeuo pipefail
if ! /usr/local/bin/pollerfleet-fetch-config; then
  echo "poller-entrypoint: no usable engine configuration; not starting" >&2
  exit 1
fi
exec "$@"
