#!/usr/bin/env bash
# Build the base image the Dockerfiles start FROM, for machines that cannot pull from a registry.
#
#   infra/docker/base-image.sh [--force] [--no-pull]
#
# Where a registry answers, pulls the image (unless --no-pull). Otherwise makes a Debian
# bookworm root filesystem with `debootstrap --variant=minbase`, trims it the
# way the official slim image is trimmed, and loads it with `docker import` under the tag the
# Dockerfiles use (LOADLAB_BASE_IMAGE, default debian:bookworm-slim), so the Dockerfiles stay
# exactly what a user with registry access builds. Does nothing when the tag already exists
# (unless --force). Needs root, debootstrap (installed when missing) and a running engine.
set -euo pipefail

TAG=${LOADLAB_BASE_IMAGE:-debian:bookworm-slim}
SUITE=${LOADLAB_BASE_SUITE:-bookworm}
MIRROR=${LOADLAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${LOADLAB_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

say() { printf 'base-image.sh: %s\n' "$*" >&2; }

force=0
pull=1
for arg in "$@"; do
    case $arg in
    --force) force=1 ;;
    --no-pull) pull=0 ;;
    *)
        echo "usage: $0 [--force] [--no-pull]" >&2
        exit 2
        ;;
    esac
done

if ((!force)) && docker image inspect "$TAG" >/dev/null 2>&1; then
    say "$TAG already present; nothing to do (--force rebuilds it)"
    exit 0
fi
if ((pull && !force)) && timeout 300 docker pull -q "$TAG" >/dev/null 2>&1; then
    say "pulled $TAG"
    exit 0
fi
if [[ $(id -u) != 0 ]]; then
    say "debootstrap needs root"
    exit 1
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    say "installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 update -qq
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq debootstrap >/dev/null
fi

workdir=$(mktemp -d /var/tmp/loadlab-rootfs.XXXXXX)
trap 'rm -rf "$workdir"' EXIT
root="$workdir/rootfs"

say "debootstrap --variant=minbase $SUITE from $MIRROR (a few minutes)"
debootstrap --variant=minbase --components=main "$SUITE" "$root" "$MIRROR" >"$workdir/debootstrap.log" 2>&1 || {
    tail -n 30 "$workdir/debootstrap.log" >&2
    exit 1
}

# The same sources as the official image: the suite, its updates and its security archive.
rm -f "$root/etc/apt/sources.list"
cat >"$root/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $MIRROR
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $SECURITY_MIRROR
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES

# The slim image's trimming: no docs, man pages or translations; apt keeps no package cache.
cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
DPKG
cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'APT'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
APT
echo 'Acquire::Languages "none";' >"$root/etc/apt/apt.conf.d/docker-no-languages"
find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/locale"/* \
    "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb \
    "$root/var/lib/apt/lists"/* "$root/var/log"/*.log "$root/var/log/apt"/* "$root/tmp"/*
: >"$root/etc/hostname"
: >"$root/etc/resolv.conf"

say "docker import as $TAG"
tar --numeric-owner --xattrs -C "$root" -c . |
    docker import \
        --change 'CMD ["bash"]' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --message "debootstrap --variant=minbase $SUITE ($MIRROR)" \
        - "$TAG" >/dev/null
say "$TAG: $(docker image inspect --format '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}')"
