#!/usr/bin/env bash
# Start, stop or report a Docker engine for the compose backend on a machine without systemd.
#
#   infra/docker/engine.sh start    install docker.io + docker-compose if missing, start dockerd
#   infra/docker/engine.sh stop     stop the dockerd this script started (and its containerd)
#   infra/docker/engine.sh status   exit 0 when an engine answers, 1 otherwise
#
# Idempotent: `start` on a running engine and `stop` on a stopped one do nothing.
# An engine that something else started (Docker Desktop, a systemd unit) is used as it is
# and never stopped by this script.
set -euo pipefail

STATE_DIR=${LOADLAB_DOCKERD_STATE:-/var/run/loadlab-dockerd}
PIDFILE="$STATE_DIR/dockerd.pid"
LOGFILE=${LOADLAB_DOCKERD_LOG:-/var/log/loadlab-dockerd.log}
START_TIMEOUT=${LOADLAB_DOCKERD_START_TIMEOUT:-90}

say() { printf 'engine.sh: %s\n' "$*" >&2; }

engine_answers() {
    docker info --format '{{.ServerVersion}}' >/dev/null 2>&1
}

our_pid() {
    [[ -f $PIDFILE ]] || return 1
    local pid
    pid=$(<"$PIDFILE")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null 2>&1; then
        missing+=(docker-compose)
    fi
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    ((${#missing[@]})) || return 0
    if [[ $(id -u) != 0 ]]; then
        say "missing ${missing[*]} and not root: install them (apt-get install ${missing[*]})"
        return 1
    fi
    say "installing ${missing[*]} from Debian's packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=900 update -qq
    apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start() {
    if engine_answers; then
        say "engine already running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
        return 0
    fi
    install_packages
    if [[ $(id -u) != 0 ]]; then
        say "no engine answers and starting dockerd needs root"
        return 1
    fi
    if pid=$(our_pid); then
        say "dockerd (pid $pid) is starting; waiting for it"
    else
        mkdir -p "$STATE_DIR"
        # cgroup v1 hierarchies are mounted by the init system elsewhere; make sure they exist.
        if [[ ! -e /sys/fs/cgroup/cgroup.controllers && ! -d /sys/fs/cgroup/cpu ]] && command -v cgroupfs-mount >/dev/null; then
            cgroupfs-mount || true
        fi
        say "starting dockerd (log: $LOGFILE)"
        # setsid: the daemon outlives the shell that started it and gets no terminal signals.
        setsid dockerd --pidfile "$STATE_DIR/dockerd.own.pid" >>"$LOGFILE" 2>&1 </dev/null &
        echo $! >"$PIDFILE"
    fi
    local waited=0
    until engine_answers; do
        if ! our_pid >/dev/null; then
            say "dockerd exited during start; last lines of $LOGFILE:"
            tail -n 20 "$LOGFILE" >&2 || true
            return 1
        fi
        if ((waited >= START_TIMEOUT)); then
            say "dockerd did not answer within ${START_TIMEOUT}s; last lines of $LOGFILE:"
            tail -n 20 "$LOGFILE" >&2 || true
            return 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "engine running ($(docker info --format '{{.ServerVersion}}' 2>/dev/null))"
}

stop() {
    local pid
    if ! pid=$(our_pid); then
        rm -f "$PIDFILE"
        if engine_answers; then
            say "an engine is running that this script did not start; leaving it alone"
        else
            say "engine not running"
        fi
        return 0
    fi
    say "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    local waited=0
    while kill -0 "$pid" 2>/dev/null; do
        if ((waited >= 60)); then
            say "dockerd did not stop within 60s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$PIDFILE"
    say "engine stopped"
}

status() {
    if engine_answers; then
        echo "running $(docker info --format '{{.ServerVersion}}' 2>/dev/null)"
        return 0
    fi
    echo "stopped"
    return 1
}

case ${1:-} in
start) start ;;
stop) stop ;;
status) status ;;
*)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
