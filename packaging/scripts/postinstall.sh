#!/bin/sh
# The package's directories carry their owners already; this only repairs them where an older
# install or an admin's hand left them otherwise (a no-op on a fresh install).
set -e
chown root:centreon-engine /etc/pollerfleet /etc/pollerfleet/fleet.toml
chown centreon-engine:centreon-engine /var/cache/pollerfleet /var/lib/pollerfleet /var/log/pollerfleet
