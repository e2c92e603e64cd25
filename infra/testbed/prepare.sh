#!/usr/bin/env bash
# Install what the Ansible side of loadlab needs on a fresh Debian 12 machine (CI or a
# developer's): the test bed's system tools and the pinned collections of
# playbooks/requirements.yml into playbooks/collections/. Idempotent; safe to run twice.
#
#   infra/testbed/prepare.sh            system packages (root) + collections
#   infra/testbed/prepare.sh --collections-only
#
# Collections come from Ansible Galaxy when it answers; otherwise from the `ansible`
# community package on PyPI (a wheel that bundles every collection it ships), whose
# bundled versions must equal the pins, or the script fails.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PLAYBOOKS="$REPO/playbooks"
COLLECTIONS="$PLAYBOOKS/collections"
REQUIREMENTS="$PLAYBOOKS/requirements.yml"
PYTHON="${LOADLAB_PYTHON:-$REPO/.venv/bin/python}"
[[ -x "$PYTHON" ]] || PYTHON="$(command -v python3)"
ANSIBLE_GALAXY="$(dirname "$PYTHON")/ansible-galaxy"
[[ -x "$ANSIBLE_GALAXY" ]] || ANSIBLE_GALAXY="$(command -v ansible-galaxy || true)"
# The community package whose bundled collections match requirements.yml's pins.
ANSIBLE_BUNDLE="${LOADLAB_ANSIBLE_BUNDLE:-ansible==9.13.0}"
WHEEL_CACHE="${LOADLAB_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/loadlab/wheels}"

log() { printf '[prepare] %s\n' "$*" >&2; }

system_packages() {
  local packages=(debootstrap systemd-container iptables iproute2 openssh-client rsync ca-certificates)
  local missing=()
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]} == 0)); then
    log "system packages present"
    return 0
  fi
  [[ $(id -u) -eq 0 ]] || { log "need root to install: ${missing[*]}"; exit 1; }
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints "name version" per pinned collection.
pins() {
  "$PYTHON" - "$REQUIREMENTS" <<'PY'
import sys, yaml
for c in yaml.safe_load(open(sys.argv[1]))["collections"]:
    print(c["name"], c["version"])
PY
}

installed_version() {
  local name=$1 manifest
  manifest="$COLLECTIONS/ansible_collections/${name%%.*}/${name#*.}/MANIFEST.json"
  [[ -f "$manifest" ]] || return 0
  "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$manifest"
}

collections_current() {
  local name version
  while read -r name version; do
    [[ "$(installed_version "$name")" == "$version" ]] || return 1
  done < <(pins)
}

from_galaxy() {
  [[ -n "$ANSIBLE_GALAXY" ]] || return 1
  "$PYTHON" - 2>/dev/null <<'PY' || return 1
import socket
socket.setdefaulttimeout(5)
socket.getaddrinfo("galaxy.ansible.com", 443)
PY
  log "installing collections from Ansible Galaxy"
  timeout 600 "$ANSIBLE_GALAXY" collection install --force -r "$REQUIREMENTS" -p "$COLLECTIONS"
}

from_pypi_bundle() {
  log "Galaxy unreachable: taking the pinned collections from PyPI's $ANSIBLE_BUNDLE"
  mkdir -p "$WHEEL_CACHE"
  local name=${ANSIBLE_BUNDLE%%==*} version=${ANSIBLE_BUNDLE##*==}
  local wheel="$WHEEL_CACHE/$name-$version-py3-none-any.whl"
  if [[ ! -f "$wheel" ]]; then
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEEL_CACHE" "$ANSIBLE_BUNDLE"
  fi
  "$PYTHON" - "$wheel" "$COLLECTIONS" "$REQUIREMENTS" <<'PY'
import json, shutil, sys, zipfile
from pathlib import Path
import yaml

wheel, dest, requirements = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
pins = {c["name"]: c["version"] for c in yaml.safe_load(open(requirements))["collections"]}
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for name, version in pins.items():
        ns, coll = name.split(".")
        prefix = f"ansible_collections/{ns}/{coll}/"
        bundled = json.loads(z.read(prefix + "MANIFEST.json"))["collection_info"]["version"]
        if bundled != version:
            sys.exit(f"{wheel} bundles {name} {bundled}, requirements.yml pins {version}")
        target = dest / prefix
        shutil.rmtree(target, ignore_errors=True)
        for member in names:
            if member.startswith(prefix) and not member.endswith("/"):
                z.extract(member, dest)
        print(f"{name} {version}")
PY
}

collections() {
  mkdir -p "$COLLECTIONS"
  if collections_current; then
    log "collections current: $(pins | tr '\n' ' ')"
    return 0
  fi
  from_galaxy || from_pypi_bundle
  collections_current || { log "collections do not match requirements.yml"; exit 1; }
  log "collections installed into $COLLECTIONS"
}

main() {
  if [[ "${1:-}" != "--collections-only" ]]; then
    system_packages
  fi
  collections
}

main "$@"
