#!/usr/bin/env bash
# Print the path of a CPython X.Y interpreter from pyenv (the newest X.Y.* installed), for the runs of
# the suite on the platforms' older Pythons: `make test-py38` (CentOS 7's rh-python38) and
# `make test-py36` (the CentOS 7 poller image's python3).
#   pyenv-python.sh 3.8
# pyenv's root is `pyenv root` when pyenv is on PATH, else $PYENV_ROOT, else ~/.pyenv (pyenv's own
# default). No such interpreter is an error, said on stderr with where it was looked for: a run on
# an older Python that cannot happen must fail, never pass for one that ran.
set -Eeuo pipefail

want=${1:-}
if [[ ! $want =~ ^3\.[0-9]+$ ]]; then
  echo "pyenv-python.sh: '$want' is not a Python X.Y version (usage: pyenv-python.sh X.Y)" >&2
  exit 2
fi

if command -v pyenv >/dev/null 2>&1; then
  root=$(pyenv root)
else
  root=${PYENV_ROOT:-$HOME/.pyenv}
fi

best=
for dir in "$root"/versions/"$want".*; do
  [ -x "$dir/bin/python$want" ] || continue
  [[ ${dir##*/} =~ ^$want\.[0-9]+$ ]] || continue # 3.8.18, not 3.8-dev or 3.8.18t
  if [ -z "$best" ] || [ "${dir##*.}" -gt "${best##*.}" ]; then
    best=$dir
  fi
done

if [ -z "$best" ]; then
  echo "pyenv-python.sh: no Python $want under $root/versions (pyenv root; set PYENV_ROOT or put pyenv on PATH):" \
    "install one with 'pyenv install $want'" >&2
  exit 1
fi
py="$best/bin/python$want"
# the interpreter must run and be the version asked for (a broken build fails here, not in pytest)
got=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])') || {
  echo "pyenv-python.sh: $py does not run" >&2
  exit 1
}
if [ "$got" != "$want" ]; then
  echo "pyenv-python.sh: $py is Python $got, not $want" >&2
  exit 1
fi
echo "$py"
