#!/usr/bin/env bash
# Prepare what lives on the host mounts, fetch this poller's configuration from the central
# (keeping the last good one when that fails), then hand over to supervisord. With no
# configuration at all the container waits, unhealthy with the reason, and tries again.
#
#   SSH host keys   in /etc/ssh/host-keys (a host mount): the role's (poller_ssh_host_keys), or made
#                   here at the first start; each poller has its own, and a redeploy keeps them
#   rw/             the engine's command pipe directory (19.04: /var/lib/centreon-engine/rw), owned
#                   by the engine, group-readable: the central's account (group centreon-engine) writes the pipe
#   RELAYHOST       postfix's relay for notification mail (e.g. [smtp.example.com]:25), optional
#   FETCH_RETRY_INTERVAL  seconds between fetches while there is no configuration at all (60)
set -Eeuo pipefail

say() { printf 'poller-entrypoint: %s\n' "$*" >&2; }
engine_user=centreon-engine
keys=/etc/ssh/host-keys

mkdir -p "$keys"
chmod 0700 "$keys"
for type in ed25519 ecdsa rsa; do
  key="$keys/ssh_host_${type}_key"
  if [ ! -s "$key" ]; then
    rm -f "$key" "$key.pub"
    ssh-keygen -q -t "$type" -N '' -C "${POLLER_NAME:-$(hostname)}" -f "$key"
    say "made this poller's SSH host key $key ($(ssh-keygen -l -f "$key.pub" | cut -d' ' -f2))"
  fi
done
mkdir -p /run/sshd

# the host mounts may be empty or owned by someone else: the engine must own what it writes
chown "$engine_user:" /var/lib/centreon-engine /var/log/centreon-engine
install -d -o "$engine_user" -g "$engine_user" -m 0750 /var/lib/centreon-engine/rw
# a command pipe left by an earlier container would make the health check pass before this
# container's engine is up (the engine makes it again)
pipe=${ENGINE_COMMAND_FILE:-/var/lib/centreon-engine/rw/centengine.cmd}
if [ -p "$pipe" ]; then
  rm -f "$pipe"
fi

relay=${RELAYHOST:-}
if [ -n "$relay" ]; then
  [[ "$relay" =~ ^\[?[A-Za-z0-9][A-Za-z0-9.-]*\]?(:[0-9]{1,5})?$ ]] || {
    say "RELAYHOST '$relay' is not [host]:port; mail stays local"
    relay=""
  }
fi
postconf -e "relayhost = $relay"

# No configuration at all (first start, central unreachable): stay up, report unhealthy with the
# reason (healthcheck.sh reads it), and try again until one arrives; then start as usual.
waiting=/run/pollerfleet-no-config
retry=${FETCH_RETRY_INTERVAL:-60}
if ! [[ "$retry" =~ ^[1-9][0-9]{0,4}$ ]]; then
  say "FETCH_RETRY_INTERVAL '$retry' is not a number of seconds; using 60"
  retry=60
fi
until STATUS_FILE=$waiting /usr/local/bin/pollerfleet-fetch-config; do
  say "no usable engine configuration yet; trying again in $retry s"
  sleep "$retry"
done
rm -f "$waiting"
exec "$@"
