#!/usr/bin/env bash
# The loadlab test bed: N Debian bookworm hosts booted with systemd-nspawn on this machine,
# each with systemd as PID 1, sshd, and its own address on a private bridge, so the Ansible
# playbooks converge against real hosts without a cloud account.
#
#   testbed.sh build            build (or reuse) the cached debootstrap image
#   testbed.sh up [N]           boot N hosts (default 3) and write the Ansible inventory
#   testbed.sh down             stop every host and remove all traces (idempotent)
#   testbed.sh status           show the hosts and their state
#   testbed.sh netem DELAY_MS   delay every packet into each host (0 removes the delay)
#   testbed.sh ssh HOST [CMD]   ssh into a host (tb1, tb2, ...)
#
# Roles in the generated inventory: tb1 = db, tb2 = app, tb3 = locust master and a worker,
# tb4.. = further locust workers. Environment knobs (all optional):
#   LOADLAB_TESTBED_CACHE   image cache           (default /var/cache/loadlab-testbed)
#   LOADLAB_TESTBED_STATE   machines, keys, logs  (default /var/lib/loadlab-testbed)
#   LOADLAB_TESTBED_SUBNET  first three octets    (default 10.213.37 -> 10.213.37.0/24)
#   LOADLAB_TESTBED_MIRROR  Debian mirror         (default http://deb.debian.org/debian)
#   LOADLAB_TESTBED_INVENTORY  inventory to write (default playbooks/inventories/testbed/hosts.yml)
#   LOADLAB_TESTBED_BOOT_TIMEOUT  seconds to wait for each host (default 180)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"

CACHE="${LOADLAB_TESTBED_CACHE:-/var/cache/loadlab-testbed}"
STATE="${LOADLAB_TESTBED_STATE:-/var/lib/loadlab-testbed}"
SUBNET="${LOADLAB_TESTBED_SUBNET:-10.213.37}"
MIRROR="${LOADLAB_TESTBED_MIRROR:-http://deb.debian.org/debian}"
INVENTORY="${LOADLAB_TESTBED_INVENTORY:-$REPO/playbooks/inventories/testbed/hosts.yml}"
BOOT_TIMEOUT="${LOADLAB_TESTBED_BOOT_TIMEOUT:-180}"
SUITE=bookworm
BRIDGE=lltb0
GATEWAY="$SUBNET.1"
TAG=loadlab-testbed
HOST_CA=/etc/ssl/certs/ca-certificates.crt
# Everything a converge needs before Ansible can take over; the roles install the rest.
PACKAGES=systemd,systemd-sysv,dbus,openssh-server,python3,python3-apt,iproute2,ca-certificates,sudo
# The image's name carries a hash of what went into it, so a change rebuilds it.
IMAGE_KEY="$(printf '%s|%s|%s|v1' "$SUITE" "$PACKAGES" "$MIRROR" | sha256sum | cut -c1-12)"
IMAGE="$CACHE/$SUITE-$IMAGE_KEY"
KEY="$STATE/ssh/id_ed25519"

log() { printf '[testbed] %s\n' "$*" >&2; }
die() { printf '[testbed] error: %s\n' "$*" >&2; exit 1; }

require_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, nspawn, bridges, NAT)"; }

require_tools() {
  local missing=()
  for tool in debootstrap systemd-nspawn ip iptables ssh ssh-keygen ; do
    command -v "$tool" >/dev/null || missing+=("$tool")
  done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run infra/testbed/prepare.sh)"
}

# ---------------------------------------------------------------------------- image
cmd_build() {
  require_root
  require_tools
  if [[ -f "$IMAGE/.loadlab-image-complete" ]]; then
    log "image cached: $IMAGE"
    return 0
  fi
  mkdir -p "$CACHE"
  local tmp="$CACHE/.build-$$"
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  local started=$SECONDS
  log "debootstrap $SUITE ($PACKAGES) into $tmp"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$tmp" "$MIRROR" \
    >"$CACHE/debootstrap.log" 2>&1 || {
    tail -20 "$CACHE/debootstrap.log" >&2
    die "debootstrap failed (log: $CACHE/debootstrap.log)"
  }
  # apt sources like a Debian cloud image: main, updates and security.
  cat >"$tmp/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
  # This machine's clock and mirrors may disagree with Release files' validity windows.
  cat >"$tmp/etc/apt/apt.conf.d/90loadlab-testbed" <<'EOF'
Acquire::Check-Valid-Until "false";
Acquire::Check-Date "false";
APT::Install-Recommends "false";
EOF
  # Addresses come from a per-host systemd-networkd file; networkd must run at boot.
  chroot "$tmp" systemctl enable systemd-networkd.service ssh.service >/dev/null 2>&1
  # Units that make no sense in a container (and slow down the boot).
  chroot "$tmp" systemctl mask systemd-networkd-wait-online.service getty@tty1.service \
    >/dev/null 2>&1 || true
  # Each host gets its own machine id and sshd host keys at boot time.
  : >"$tmp/etc/machine-id"
  rm -f "$tmp"/etc/ssh/ssh_host_*
  mkdir -p "$tmp/root/.ssh"
  chmod 700 "$tmp/root/.ssh"
  chroot "$tmp" apt-get clean
  touch "$tmp/.loadlab-image-complete"
  rm -rf "$IMAGE"
  mv "$tmp" "$IMAGE"
  trap - EXIT
  log "image built in $((SECONDS - started))s: $IMAGE"
}

# ---------------------------------------------------------------------------- network
host_ip() { echo "$SUBNET.$((10 + $1))"; }

network_up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
  fi
  ip addr replace "$GATEWAY/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  # Remember the forwarding setting to restore it on `down`.
  [[ -f "$STATE/ip_forward.orig" ]] || cat /proc/sys/net/ipv4/ip_forward >"$STATE/ip_forward.orig"
  echo 1 >/proc/sys/net/ipv4/ip_forward
  # NAT to the outside (package mirrors, PyPI) and forwarding for the bridge, tagged so
  # `down` removes exactly these rules. Inserted first so a DROP policy (Docker's) cannot
  # shadow them.
  iptables_rule nat POSTROUTING -s "$SUBNET.0/24" ! -o "$BRIDGE" -j MASQUERADE
  iptables_rule filter FORWARD -i "$BRIDGE" -j ACCEPT
  iptables_rule filter FORWARD -o "$BRIDGE" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
}

iptables_rule() {
  local table=$1 chain=$2
  shift 2
  if ! iptables -t "$table" -C "$chain" "$@" -m comment --comment "$TAG" 2>/dev/null; then
    iptables -t "$table" -I "$chain" 1 "$@" -m comment --comment "$TAG"
  fi
}

network_down() {
  # Delete every rule carrying our tag, whatever its exact form.
  local table rule
  for table in nat filter; do
    while read -r rule; do
      [[ -n "$rule" ]] || continue
      eval "iptables -t $table ${rule/-A /-D }" || true
    done < <(iptables -t "$table" -S 2>/dev/null | grep -- "--comment $TAG" || true)
  done
  local link
  for link in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^vb-tb[0-9]+$' || true); do
    ip link del "$link" 2>/dev/null || true
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  if [[ -f "$STATE/ip_forward.orig" ]]; then
    # Leave forwarding on if a Docker bridge appeared meanwhile: it needs it too.
    if ! ip link show docker0 >/dev/null 2>&1; then
      cat "$STATE/ip_forward.orig" >/proc/sys/net/ipv4/ip_forward
    fi
    rm -f "$STATE/ip_forward.orig"
  fi
}

# ---------------------------------------------------------------------------- machines
machine_root() {
  # An overlay on the cached image (fast, small); a full copy where overlays do not mount.
  local name=$1 dir="$STATE/machines/$1"
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  if mount -t overlay overlay -o "lowerdir=$IMAGE,upperdir=$dir/upper,workdir=$dir/work" \
    "$dir/root" 2>/dev/null; then
    echo overlay >"$dir/kind"
  else
    log "$name: overlayfs unavailable, copying the image"
    cp -a --reflink=auto "$IMAGE/." "$dir/root/"
    echo copy >"$dir/kind"
  fi
  echo "$dir/root"
}

configure_machine() {
  local name=$1 index=$2 count=$3 root=$4 ip
  ip="$(host_ip "$index")"
  echo "$name" >"$root/etc/hostname"
  {
    echo "127.0.0.1 localhost"
    echo "::1 localhost ip6-localhost ip6-loopback"
    local i
    for ((i = 1; i <= count; i++)); do echo "$(host_ip "$i") tb$i"; done
  } >"$root/etc/hosts"
  # Must sort before systemd's own 80-container-host0.network, or host0 gets only a
  # link-local address.
  cat >"$root/etc/systemd/network/10-loadlab-host0.network" <<EOF
[Match]
Name=host0

[Network]
Address=$ip/24
Gateway=$GATEWAY
DNS=$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)
LinkLocalAddressing=no
IPv6AcceptRA=no
EOF
  grep '^nameserver' /etc/resolv.conf >"$root/etc/resolv.conf" || true
  # Downloads pass a TLS-inspecting proxy: trust this machine's CA bundle, also after the
  # hosts' own update-ca-certificates runs, and point pip at it as this machine does.
  if [[ -f "$HOST_CA" ]]; then
    install -D -m 0644 "$HOST_CA" "$root/usr/local/share/ca-certificates/loadlab-host-bundle.crt"
    install -D -m 0644 "$HOST_CA" "$root/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' >"$root/etc/pip.conf"
  fi
  ssh-keygen -q -A -f "$root"
  install -m 0600 "$KEY.pub" "$root/root/.ssh/authorized_keys"
}

boot_machine() {
  local name=$1 root=$2 dir="$STATE/machines/$1"
  # --register=no --keep-unit: this machine has no systemd as PID 1 (nor machined).
  setsid systemd-nspawn --boot --register=no --keep-unit --quiet \
    --machine="$name" --directory="$root" \
    --network-bridge="$BRIDGE" --resolv-conf=off --timezone=off --link-journal=no \
    --console=passive \
    >"$dir/console.log" 2>&1 </dev/null &
  echo $! >"$dir/pid"
}

ssh_host() {
  local ip=$1
  shift
  ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o LogLevel=ERROR -o ConnectTimeout=3 "root@$ip" "$@"
}

wait_machine() {
  local name=$1 index=$2 ip deadline state
  ip="$(host_ip "$index")"
  deadline=$((SECONDS + BOOT_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$(cat "$STATE/machines/$name/pid")" 2>/dev/null; then
      tail -30 "$STATE/machines/$name/console.log" >&2 || true
      die "$name: systemd-nspawn exited during boot (log: $STATE/machines/$name/console.log)"
    fi
    # is-system-running exits non-zero for every state but "running"; read what it prints.
    state="$(ssh_host "$ip" systemctl is-system-running 2>/dev/null || true)"
    case "$state" in
      running) return 0 ;;
      degraded)
        log "$name: degraded; failed units: $(ssh_host "$ip" systemctl --failed --no-legend --plain | awk '{print $1}' | xargs)"
        return 0
        ;;
    esac
    sleep 1
  done
  tail -30 "$STATE/machines/$name/console.log" >&2 || true
  die "$name ($ip) not reachable over SSH with systemd running within ${BOOT_TIMEOUT}s"
}

write_inventory() {
  local count=$1 i
  mkdir -p "$(dirname "$INVENTORY")"
  {
    echo "# Generated by infra/testbed/testbed.sh up $count — do not edit, do not commit."
    echo "all:"
    echo "  vars:"
    echo "    ansible_user: root"
    echo "    ansible_ssh_private_key_file: $KEY"
    echo "    ansible_ssh_common_args: >-"
    echo "      -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    echo "      -o ControlMaster=auto -o ControlPersist=120s"
    echo "  hosts:"
    for ((i = 1; i <= count; i++)); do
      echo "    tb$i:"
      echo "      ansible_host: $(host_ip "$i")"
      echo "      loadlab_private_ip: $(host_ip "$i")"
    done
    echo "  children:"
    echo "    # Every lab host; group_vars/loadlab.yml beside this file sizes the lab for the test bed."
    echo "    loadlab:"
    echo "      children:"
    echo "        db:"
    echo "          hosts:"
    echo "            tb1:"
    echo "        app:"
    echo "          hosts:"
    echo "            tb2:"
    echo "        locust_master:"
    echo "          hosts:"
    echo "            tb3:"
    echo "        locust_workers:"
    echo "          hosts:"
    echo "            tb3:"
    for ((i = 4; i <= count; i++)); do echo "            tb$i:"; done
  } >"$INVENTORY.tmp"
  mv "$INVENTORY.tmp" "$INVENTORY"
  log "inventory: $INVENTORY"
}

cmd_up() {
  local count=${1:-3}
  [[ "$count" =~ ^[0-9]+$ ]] && ((count >= 3 && count <= 20)) || die "up N: N must be 3..20"
  require_root
  require_tools
  if compgen -G "$STATE/machines/*/pid" >/dev/null; then
    die "a test bed is already up (run: $0 down)"
  fi
  cmd_build
  mkdir -p "$STATE/ssh" "$STATE/machines"
  if [[ ! -f "$KEY" ]]; then
    ssh-keygen -q -t ed25519 -N '' -C "$TAG" -f "$KEY"
  fi
  local started=$SECONDS i root
  network_up
  for ((i = 1; i <= count; i++)); do
    root="$(machine_root "tb$i")"
    configure_machine "tb$i" "$i" "$count" "$root"
    boot_machine "tb$i" "$root"
  done
  for ((i = 1; i <= count; i++)); do
    wait_machine "tb$i" "$i"
    log "tb$i up at $(host_ip "$i")"
  done
  echo "$count" >"$STATE/count"
  write_inventory "$count"
  log "$count hosts booted in $((SECONDS - started))s"
}

stop_machine() {
  local dir=$1 name pid i
  name="$(basename "$dir")"
  if [[ -f "$dir/pid" ]]; then
    pid="$(cat "$dir/pid")"
    if kill -0 "$pid" 2>/dev/null; then
      # SIGTERM makes nspawn ask the container's systemd for an orderly poweroff.
      kill -TERM "$pid" 2>/dev/null || true
      for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
      done
      if kill -0 "$pid" 2>/dev/null; then
        log "$name: no orderly poweroff in 20s, killing"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 1
      fi
    fi
  fi
  # Processes left inside the machine's tree (nspawn killed hard): end them by their root.
  local proc
  for proc in /proc/[0-9]*; do
    [[ "$(readlink "$proc/root" 2>/dev/null)" == "$dir/root" ]] || continue
    kill -KILL "${proc#/proc/}" 2>/dev/null || true
  done
  if mountpoint -q "$dir/root" 2>/dev/null; then
    umount "$dir/root" 2>/dev/null || umount -l "$dir/root"
  fi
  # Nothing may be mounted below the machine's folder before it is removed.
  if grep -q " $dir/" /proc/mounts; then
    awk -v d="$dir/" '$2 ~ "^"d {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  fi
  rm -rf --one-file-system "$dir"
}

cmd_down() {
  require_root
  local dir
  if [[ -d "$STATE/machines" ]]; then
    for dir in "$STATE"/machines/*/; do
      [[ -d "$dir" ]] || continue
      stop_machine "${dir%/}"
      log "$(basename "$dir") removed"
    done
  fi
  network_down
  rm -f "$STATE/count" "$INVENTORY"
  rm -rf "$STATE/machines"
  log "test bed down"
}

cmd_status() {
  local count i ip
  count="$(cat "$STATE/count" 2>/dev/null || echo 0)"
  if ((count == 0)); then
    echo "test bed down"
    return 0
  fi
  for ((i = 1; i <= count; i++)); do
    ip="$(host_ip "$i")"
    printf 'tb%s %s %s\n' "$i" "$ip" "$(ssh_host "$ip" systemctl is-system-running 2>/dev/null || echo unreachable)"
  done
}

cmd_netem() {
  local delay=${1:?usage: netem DELAY_MS}
  require_root
  local link
  for link in $(ip -o link show master "$BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    if [[ "$delay" == 0 ]]; then
      tc qdisc del dev "$link" root 2>/dev/null || true
      continue
    fi
    # Delay on each host's bridge port delays every packet into that host: a round trip
    # between two test-bed hosts gets twice the delay.
    tc qdisc replace dev "$link" root netem delay "${delay}ms" 2>/dev/null ||
      die "netem failed on $link: this kernel lacks the sch_netem qdisc (CONFIG_NET_SCH_NETEM)"
    log "$link: +${delay}ms"
  done
}

cmd_ssh() {
  local name=${1:?usage: ssh HOST [CMD]}
  shift
  ssh_host "$(host_ip "${name#tb}")" "$@"
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    build) cmd_build "$@" ;;
    up) cmd_up "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    netem) cmd_netem "$@" ;;
    ssh) cmd_ssh "$@" ;;
    *) sed -n '2,20p' "$0" >&2; exit 2 ;;
  esac
}

main "$@"
