#!/usr/bin/env bash
# The steps both poller images share, so the production image (CentOS/AlmaLinux, Centreon's
# packages) and its Debian twin (images/build-twin.sh) are set up by the same lines.
#
#   setup.sh users    the engine's and the central's users with fixed IDs (before the packages,
#                     whose scriptlets would otherwise pick IDs)
#   setup.sh finish   after the packages: no SSH host keys in the image, postfix for local
#                     submission, directories, modes
set -Eeuo pipefail

case "${1:-}" in
  users)
    getent group centreon-engine >/dev/null || groupadd --system --gid 990 centreon-engine
    getent passwd centreon-engine >/dev/null ||
      useradd --system --uid 993 --gid 990 --home-dir /var/lib/centreon-engine --shell /sbin/nologin centreon-engine
    # the central pushes as `centreon`; '*' (no password, not locked): sshd without PAM refuses
    # a locked account even for a key
    getent group centreon >/dev/null || groupadd --system --gid 994 centreon
    getent passwd centreon >/dev/null ||
      useradd --system --uid 994 --gid 994 --home-dir /var/spool/centreon-push --no-create-home \
        --shell /bin/bash --password '*' centreon
    # as on a Centreon poller: centreon writes the engine's command pipe (group centreon-engine)
    usermod -a -G centreon-engine centreon
    ;;
  finish)
    # each poller makes its own host keys at its first start (entrypoint.sh), on a host mount
    rm -f /etc/ssh/ssh_host_*
    # postfix: local submission only (engine notifications); the relay comes from RELAYHOST at start;
    # myhostname is the container's host name; logs to the container's output (Postfix >= 3.4)
    postconf -X myhostname
    # shellcheck disable=SC2016 # $myhostname and $mydomain are postfix's, not the shell's
    postconf -e 'inet_interfaces = loopback-only' 'inet_protocols = ipv4' \
      'mydestination = $myhostname, localhost.$mydomain, localhost' 'maillog_file = /dev/stdout'
    chmod 0755 /usr/local/bin/poller-entrypoint /usr/local/bin/pollerfleet-fetch-config \
      /usr/local/bin/poller-healthcheck /usr/local/bin/poller-push
    chmod 0644 /etc/supervisord.conf /etc/ssh/sshd_config.poller
    mkdir -p /etc/centreon-engine /var/lib/centreon-engine /var/log/centreon-engine /etc/ssh/host-keys \
      /etc/ssh/authorized-keys /var/spool/centreon-push/engine /var/spool/centreon-push/broker
    chown centreon-engine:centreon-engine /etc/centreon-engine /var/lib/centreon-engine /var/log/centreon-engine
    # cbmod runs inside the engine and writes centreon-broker's cache and logs (production image)
    if getent group centreon-broker >/dev/null; then
      usermod -a -G centreon-broker centreon-engine
      mkdir -p /var/lib/centreon-broker /var/log/centreon-broker
      chown centreon-broker:centreon-broker /var/lib/centreon-broker /var/log/centreon-broker
      chmod 0775 /var/lib/centreon-broker /var/log/centreon-broker
    fi
    chmod 0700 /etc/ssh/host-keys
    chown -R centreon:centreon /var/spool/centreon-push
    chmod -R u=rwX,go= /var/spool/centreon-push
    ;;
  *)
    echo "usage: setup.sh users|finish" >&2
    exit 64
    ;;
esac
