#!/usr/bin/env bash
# Fetch the vmware configuration repository (clone, or pull when the volume already has it),
# deploy the file for this host name, start the daemon. Re-creating the container re-reads it.
#
#   VMWARE_CONFIG_REPO    git URL (required)
#   VMWARE_CONFIG_REF     branch or tag (default main)
#   VMWARE_CONFIG_COMMIT  the exact commit of REF to deploy (the role reads the repository's head at
#                         deploy time and recreates the connector when it moved on); empty = REF's head
#   VMWARE_CONFIG_DIR     checkout (default /var/lib/centreon-vmware/config)
#   VMWARE_CONFIG_TARGET  where the daemon reads its file (default /etc/centreon/centreon_vmware.pm)
#   POLLER_NAME           the host whose file is deployed (default: the host name); the repository
#                         holds <name>.pm, or <name>/centreon_vmware.pm
#   VMWARE_DAEMON         the command that starts the daemon (split on spaces, no shell)
set -Eeuo pipefail

die() { printf 'vmware-entrypoint: %s\n' "$*" >&2; exit 1; }

repo=${VMWARE_CONFIG_REPO:-}
ref=${VMWARE_CONFIG_REF:-main}
checkout=${VMWARE_CONFIG_DIR:-/var/lib/centreon-vmware/config}
target=${VMWARE_CONFIG_TARGET:-/etc/centreon/centreon_vmware.pm}
name=${POLLER_NAME:-$(hostname)}

[ -n "$repo" ] || die "VMWARE_CONFIG_REPO is not set"
[[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "POLLER_NAME '$name' is not a host name"
[[ "$ref" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || die "VMWARE_CONFIG_REF '$ref' is not a branch or tag name"
commit=${VMWARE_CONFIG_COMMIT:-}
[ -z "$commit" ] || [[ "$commit" =~ ^[0-9a-f]{40}$ ]] || die "VMWARE_CONFIG_COMMIT '$commit' is not a commit id"

# the head of REF only, unless an exact commit is asked for (it may be behind the head by now)
depth=(--depth 1)
[ -n "$commit" ] && depth=()
if [ -d "$checkout/.git" ]; then
  if [ -n "$commit" ] && [ -f "$checkout/.git/shallow" ]; then
    depth=(--unshallow)
  fi
  git -C "$checkout" fetch --quiet ${depth[@]+"${depth[@]}"} origin "$ref" || die "cannot fetch $ref from $repo"
  git -C "$checkout" checkout --quiet --force FETCH_HEAD || die "cannot check out $ref"
else
  mkdir -p "$(dirname "$checkout")"
  git clone --quiet ${depth[@]+"${depth[@]}"} --branch "$ref" -- "$repo" "$checkout" || die "cannot clone $repo at $ref"
fi
if [ -n "$commit" ]; then
  git -C "$checkout" merge-base --is-ancestor "$commit" HEAD 2>/dev/null ||
    die "commit $commit is not on $ref of $repo"
  git -C "$checkout" checkout --quiet --force "$commit" || die "cannot check out $commit"
fi

source_file=""
for candidate in "$checkout/$name.pm" "$checkout/$name/centreon_vmware.pm"; do
  if [ -s "$candidate" ]; then
    source_file=$candidate
    break
  fi
done
[ -n "$source_file" ] || die "no configuration for host '$name' in $repo ($ref): expected $name.pm or $name/centreon_vmware.pm"

mkdir -p "$(dirname "$target")"
cp "$source_file" "$target.new"
mv "$target.new" "$target"
echo "vmware-entrypoint: deployed ${source_file#"$checkout"/} ($(git -C "$checkout" rev-parse --short HEAD)) to $target"

if [ $# -gt 0 ]; then
  exec "$@"
fi
read -r -a daemon <<<"${VMWARE_DAEMON:-/usr/bin/centreon_vmware.pl}"
[ ${#daemon[@]} -gt 0 ] || die "VMWARE_DAEMON names no command"
exec "${daemon[@]}"
