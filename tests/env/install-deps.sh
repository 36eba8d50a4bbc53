#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need, only when something is missing.
# Run as root on Debian 12; `make deps`, `make demo`, `make test` and .ci/run call it.
set -Eeuo pipefail

# command that proves the package is there -> package
declare -A wanted=(
  [dockerd]=docker.io
  [busybox]=busybox-static
  [openssl]=openssl
  [shellcheck]=shellcheck
  [git]=git
  [docker-registry]=docker-registry
  [htpasswd]=apache2-utils
  [rpmbuild]=rpm
  [createrepo_c]=createrepo-c
  [nagios4]=nagios4-core
  [sshd]=openssh-server
  [rsync]=rsync
  [mmdebstrap]=mmdebstrap
  [snmpd]=snmpd
  [snmpwalk]=snmp
  [setfacl]=acl


)
missing=()
for cmd in "${!wanted[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${wanted[$cmd]}")
done
# busybox-static, not the dynamic busybox: the test images are FROM scratch.
if command -v busybox >/dev/null 2>&1 && ! file -L "$(command -v busybox)" 2>/dev/null | grep -q static; then
  missing+=(busybox-static)
fi
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
[ -x /usr/bin/docker ] || missing+=(docker.io)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps.sh: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
  exit 1
fi
mapfile -t unique < <(printf '%s\n' "${missing[@]}" file | sort -u)
echo "install-deps.sh: installing ${unique[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${unique[@]}" >/dev/null
