#!/usr/bin/env bash
# The peers `make bench` measures against that the tests do not need (so CI does not pay for
# them): centreon-plugins' Docker container-usage mode, a Perl plugin that needs JSON::XS and LWP.
# Installed only when missing; a failure is not fatal: the benchmark then skips that peer and says so.
set -Euo pipefail

packages=(centreon-plugins libjson-xs-perl libwww-perl)
if dpkg-query -W -f='${Status}\n' "${packages[@]}" 2>/dev/null | grep -qv 'install ok installed' ||
  ! dpkg-query -W "${packages[@]}" >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bench-deps.sh: not root, cannot install ${packages[*]}; the centreon-plugins peer will be skipped" >&2
    exit 0
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${packages[@]}" >/dev/null; then
    echo "bench-deps.sh: apt-get install ${packages[*]} failed; the centreon-plugins peer will be skipped" >&2
  fi
fi
exit 0
