#!/usr/bin/env bash
# System packages the tests need beyond Python: the PostgreSQL server, Chromium for the
# report test, a Docker engine for the compose test, debootstrap and systemd-nspawn for the
# Ansible test bed. Installs what is missing when run as root on Debian/Ubuntu; otherwise
# lists what is missing and leaves it to you.
set -euo pipefail

want=(postgresql postgresql-contrib chromium debootstrap systemd-container iproute2 iptables
      docker.io docker-compose rsync openssh-client sshpass)
missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "missing system packages: ${missing[*]}" >&2
  echo "install them (Debian: sudo apt-get install ${missing[*]}); tests that need them fail with the reason" >&2
  exit 0
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
