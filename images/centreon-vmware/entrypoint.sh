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
#   VMWARE_LOG_FILE       the daemon's --logfile (default /var/log/centreon/centreon_vmware.log): made a
#                         link to this container's stdout, so `docker logs` shows the daemon's log
# A private repository's credential is a file mounted read-only, never a variable's value:
#   VMWARE_CONFIG_SSH_KEY_FILE      a deploy key (mode 0400/0600), for an ssh:// or git@ URL, with
#   VMWARE_CONFIG_KNOWN_HOSTS_FILE  the repository host's key(s): the host is always verified
#   VMWARE_CONFIG_TOKEN_FILE        a token (first line) for an https:// URL, sent as the password
#   VMWARE_CONFIG_TOKEN_USER        of this user name (default oauth2, as GitLab wants it; GitHub takes any)
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

# --- the repository's credential: files only ------------------------------------------------------
path_re='^/[A-Za-z0-9._/-]+$'
git_auth=()
key=${VMWARE_CONFIG_SSH_KEY_FILE:-}
if [ -n "$key" ]; then
  known=${VMWARE_CONFIG_KNOWN_HOSTS_FILE:-}
  [[ "$key" =~ $path_re ]] || die "VMWARE_CONFIG_SSH_KEY_FILE '$key' is not an absolute path"
  [ -r "$key" ] || die "VMWARE_CONFIG_SSH_KEY_FILE $key cannot be read (mount the deploy key read-only)"
  [ -n "$known" ] || die "VMWARE_CONFIG_KNOWN_HOSTS_FILE is not set: the repository host's key is always checked"
  [[ "$known" =~ $path_re ]] || die "VMWARE_CONFIG_KNOWN_HOSTS_FILE '$known' is not an absolute path"
  [ -r "$known" ] || die "VMWARE_CONFIG_KNOWN_HOSTS_FILE $known cannot be read"
  export GIT_SSH_COMMAND="ssh -i $key -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$known"
fi
token=${VMWARE_CONFIG_TOKEN_FILE:-}
if [ -n "$token" ]; then
  token_user=${VMWARE_CONFIG_TOKEN_USER:-oauth2}
  [[ "$token" =~ $path_re ]] || die "VMWARE_CONFIG_TOKEN_FILE '$token' is not an absolute path"
  [ -r "$token" ] || die "VMWARE_CONFIG_TOKEN_FILE $token cannot be read (mount the token read-only)"
  [[ "$token_user" =~ ^[A-Za-z0-9._-]+$ ]] || die "VMWARE_CONFIG_TOKEN_USER '$token_user' is not a user name"
  # a credential helper that reads the file when git asks: the token is in no argv and no variable
  git_auth=(-c credential.helper= -c "credential.helper=!f() { test \"\$1\" = get || exit 0; echo username=$token_user; printf 'password=%s\\n' \"\$(head -n 1 $token)\"; }; f")
fi
gitc() { git ${git_auth[@]+"${git_auth[@]}"} "$@"; }

# the head of REF only, unless an exact commit is asked for (it may be behind the head by now)
depth=(--depth 1)
[ -n "$commit" ] && depth=()
if [ -d "$checkout/.git" ]; then
  if [ -n "$commit" ] && [ -f "$checkout/.git/shallow" ]; then
    depth=(--unshallow)
  fi
  gitc -C "$checkout" fetch --quiet ${depth[@]+"${depth[@]}"} origin "$ref" || die "cannot fetch $ref from $repo"
  git -C "$checkout" checkout --quiet --force FETCH_HEAD || die "cannot check out $ref"
else
  mkdir -p "$(dirname "$checkout")"
  gitc clone --quiet ${depth[@]+"${depth[@]}"} --branch "$ref" -- "$repo" "$checkout" || die "cannot clone $repo at $ref"
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

# the daemon's log file is this container's stdout: `docker logs` shows it, nothing fills the disk
logfile=${VMWARE_LOG_FILE:-/var/log/centreon/centreon_vmware.log}
[[ "$logfile" =~ $path_re ]] || die "VMWARE_LOG_FILE '$logfile' is not an absolute path"
mkdir -p "$(dirname "$logfile")"
ln -sfn /dev/stdout "$logfile"

if [ $# -gt 0 ]; then
  exec "$@"
fi
read -r -a daemon <<<"${VMWARE_DAEMON:-/usr/bin/centreon_vmware.pl}"
[ ${#daemon[@]} -gt 0 ] || die "VMWARE_DAEMON names no command"
exec "${daemon[@]}"
