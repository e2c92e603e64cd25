"""An emulated network between the app servers and PostgreSQL.

PostgreSQL runs in a network namespace of its own (`loadlab-<id>`), joined to the root
namespace by a veth pair on a private /30 from 10.213.0.0/16. The app servers stay in the
root namespace and reach the database over the veth, through qdiscs that add the delay:

- `tc netem` on both ends, each delaying its own egress by half the round trip (and half the
  jitter). Split, not all on one side, because a real path delays both directions: the SYN
  and the SYN-ACK, a query and its result, data and its ACKs each take one way's delay, so
  TCP's own timing (delayed ACKs, the handshake, slow start) sees what it would on a cloud
  network, and `rate` shapes each direction like a full-duplex link.
- Where the kernel has no sch_netem (built without CONFIG_NET_SCH_NETEM and without module
  support, as in some Firecracker guests), a userspace relay inside the namespace
  (`loadlab.deployments.netrelay`) holds each direction's bytes for half the round trip instead; `rate`
  is then an htb class on each veth end. The manifest says which emulator ran and why.

The namespace lives exactly as long as the `emulated_link` block; a run killed outright
leaves one behind, which the next run's `sweep_stale` removes (its owner pid is dead).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import psycopg

from loadlab.core.config import NetworkEmulation
from loadlab.core.errors import LabError
from loadlab.deployments.processes import ManagedProcess, wait_until

POOL = ipaddress.ip_network("10.213.0.0/16")
PREFIX = "loadlab-"
OWNERS = Path("/run/loadlab-netns")  # <namespace>.json: owner pid and host-side link
CAP_NET_ADMIN, CAP_SYS_ADMIN = 12, 21
NETEM_LIMIT = 100_000  # packets netem may hold: the default 1000 drops at high rate x delay

Emulator = Literal["netem", "relay"]


def _run(argv: list[str], what: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise LabError(
            f"{what} failed: `{' '.join(argv)}`: {result.stderr.strip() or result.stdout.strip()}",
            hint="the emulated database link needs iproute2 (`ip`, `tc`) and root",
        )
    return result


def _effective_caps() -> int:
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def require_privileges() -> None:
    """Namespaces, veth pairs and qdiscs are root's business: say so before touching any."""
    if os.geteuid() == 0:
        return
    caps = _effective_caps()
    if caps & (1 << CAP_NET_ADMIN) and caps & (1 << CAP_SYS_ADMIN):
        return
    raise LabError(
        "--db-rtt (network.db_rtt_ms) needs root, or CAP_NET_ADMIN and CAP_SYS_ADMIN: it "
        "creates a network namespace and a veth pair for PostgreSQL and sets tc qdiscs on them",
        hint="run as root (e.g. `sudo .venv/bin/loadlab run --db-rtt 1ms ...`), or leave out "
        "--db-rtt / network.db_rtt_ms to run without an emulated link",
    )


def kernel_without_netem() -> str:
    """Why this kernel cannot run netem, from its own build configuration where it tells."""
    release = os.uname().release
    reason = f"the running kernel ({release}) has no sch_netem"
    with contextlib.suppress(OSError, EOFError):
        import gzip

        config = gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()
        missing = [
            flag
            for flag in ("CONFIG_NET_SCH_NETEM", "CONFIG_MODULES")
            if f"{flag}=y" not in config and f"{flag}=m" not in config
        ]
        if "CONFIG_NET_SCH_NETEM" in missing:
            reason += ": built without CONFIG_NET_SCH_NETEM"
            reason += (
                " and without loadable modules (CONFIG_MODULES unset), so `modprobe sch_netem` "
                "cannot help"
                if "CONFIG_MODULES" in missing
                else "; `modprobe sch_netem` may load it"
            )
    return reason


# ---------------------------------------------------------------- stale namespaces


def lab_namespaces() -> list[str]:
    listed = _run(["ip", "netns", "list"], "listing network namespaces", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(PREFIX)]


def _owner(namespace: str) -> dict[str, Any]:
    try:
        return dict(json.loads((OWNERS / f"{namespace}.json").read_text()))
    except (OSError, ValueError):
        return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _evict(namespace: str, timeout: float = 15.0) -> None:
    """Stop whatever still runs in the namespace (only the lab starts processes there)."""
    listed = _run(["ip", "netns", "pids", namespace], "listing its processes", check=False)
    pids = [int(p) for p in listed.stdout.split() if p.isdigit()]
    # SIGINT is PostgreSQL's fast shutdown (it ends its backends); the relay just exits
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    wait_until(lambda: not any(_alive(p) for p in pids), timeout)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(_alive(p) for p in pids), 5)


def remove_namespace(namespace: str, host_if: str | None = None) -> None:
    _evict(namespace)
    _run(["ip", "netns", "delete", namespace], "deleting the namespace", check=False)
    if host_if:  # gone with its peer already, unless something still held the namespace
        _run(["ip", "link", "delete", host_if], "deleting the veth", check=False)
    (OWNERS / f"{namespace}.json").unlink(missing_ok=True)


def sweep_stale() -> list[str]:
    """Remove the namespaces of lab runs that died without cleaning up; live runs' stay."""
    removed = []
    for namespace in lab_namespaces():
        owner = _owner(namespace)
        if owner.get("pid") and _alive(int(owner["pid"])):
            continue
        remove_namespace(namespace, owner.get("host_if"))
        removed.append(namespace)
    return removed


# ---------------------------------------------------------------- addresses


def _used_networks() -> list[ipaddress.IPv4Network]:
    used = []
    addrs = _run(["ip", "-o", "-4", "addr", "show"], "listing addresses", check=False).stdout
    for line in addrs.splitlines():
        parts = line.split()
        if "inet" in parts:
            used.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    routes = _run(["ip", "-4", "route", "show", "table", "all"], "listing routes", check=False)
    for line in routes.stdout.splitlines():
        with contextlib.suppress(ValueError, IndexError):
            target = line.split()[0]
            if target not in {"default", "broadcast", "local", "unreachable", "blackhole"}:
                used.append(ipaddress.ip_network(target, strict=False))
    return used


def free_subnet() -> ipaddress.IPv4Network:
    """A /30 of 10.213.0.0/16 that no address or route on this machine overlaps; random,
    so two runs starting at the same moment are unlikely to reach for the same one."""
    used = _used_networks()
    candidates = list(POOL.subnets(new_prefix=30))
    random.shuffle(candidates)
    for subnet in candidates:
        if not any(subnet.overlaps(u) for u in used):
            return subnet
    raise LabError(
        f"no free /30 left in {POOL} for the emulated database link",
        hint="remove stale `loadlab-*` namespaces (`ip netns list`) or free some of 10.213.0.0/16",
    )


# ---------------------------------------------------------------- the link


def _us(ms: float) -> str:
    return f"{round(ms * 1000)}us"


@dataclass
class EmulatedLink:
    namespace: str
    subnet: ipaddress.IPv4Network
    settings: NetworkEmulation
    workdir: Path
    emulator: Emulator = "netem"
    emulator_note: str = ""
    rtt_ms: float | None = None
    qdiscs: dict[str, list[str]] = field(default_factory=dict)
    measured: dict[str, dict[str, float]] = field(default_factory=dict)
    relay: ManagedProcess | None = None

    @property
    def host_if(self) -> str:
        return f"llh{self.namespace.removeprefix(PREFIX)}"

    @property
    def ns_if(self) -> str:
        return f"lld{self.namespace.removeprefix(PREFIX)}"

    @property
    def host_address(self) -> str:
        return str(self.subnet[1])

    @property
    def db_address(self) -> str:
        """Where the app servers reach PostgreSQL."""
        return str(self.subnet[2])

    @property
    def postgres_listen(self) -> str:
        """netem: PostgreSQL itself on the veth; relay: on the namespace's loopback, behind it."""
        return self.db_address if self.emulator == "netem" else "127.0.0.1"

    @property
    def control(self) -> Path:
        return self.workdir / f"{self.namespace}-delay.json"

    def exec_prefix(self) -> list[str]:
        return ["ip", "netns", "exec", self.namespace]

    # ------------------------------------------------------------ building
    def create(self) -> None:
        ns = self.namespace
        _run(["ip", "netns", "add", ns], "creating the network namespace")
        _run(
            ["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if,
             "netns", ns],
            "creating the veth pair",
        )  # fmt: skip
        prefix = self.subnet.prefixlen
        _run(["ip", "addr", "add", f"{self.host_address}/{prefix}", "dev", self.host_if], "addr")
        _run(["ip", "link", "set", self.host_if, "up"], "bringing up the veth")
        _run(
            ["ip", "-n", ns, "addr", "add", f"{self.db_address}/{prefix}", "dev", self.ns_if],
            "addr",
        )
        _run(["ip", "-n", ns, "link", "set", self.ns_if, "up"], "bringing up the veth peer")
        _run(["ip", "-n", ns, "link", "set", "lo", "up"], "bringing up lo in the namespace")
        probe = _run(self._tc(self.host_if, "netem", 0.0), "probing netem", check=False)
        if probe.returncode != 0:
            if "unknown" not in probe.stderr.lower():
                raise LabError(f"tc netem failed on {self.host_if}: {probe.stderr.strip()}")
            self.emulator = "relay"
            self.emulator_note = (
                f"{kernel_without_netem()}; the delay is added by a userspace relay "
                "(loadlab.deployments.netrelay) inside the namespace, whose CPU is sampled as `db-link`"
            )
            if self.settings.rate:
                for ns_args, dev in (([], self.host_if), (["-n", ns], self.ns_if)):
                    _run(["tc", *ns_args, "qdisc", "replace", "dev", dev, "root", "handle", "1:",
                          "htb", "default", "1"], "adding htb")  # fmt: skip
                    _run(["tc", *ns_args, "class", "replace", "dev", dev, "parent", "1:",
                          "classid", "1:1", "htb", "rate", self.settings.rate], "rate")  # fmt: skip

    def _tc(self, dev: str, kind: str, rtt_ms: float) -> list[str]:
        ns_args = ["-n", self.namespace] if dev == self.ns_if else []
        argv = ["tc", *ns_args, "qdisc", "replace", "dev", dev, "root", kind]
        argv += ["delay", _us(rtt_ms / 2)]
        if self.settings.jitter_ms:
            argv.append(_us(self.settings.jitter_ms / 2))
        if self.settings.rate:
            argv += ["rate", self.settings.rate]
        return [*argv, "limit", str(NETEM_LIMIT)]

    def expose(self, port: int) -> None:
        """Make PostgreSQL on `port` reachable at db_address:port (relay: start the relay)."""
        if self.emulator != "relay" or self.relay is not None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._write_control(self.rtt_ms or 0.0)
        self.relay = ManagedProcess(
            "db-link",
            [*self.exec_prefix(), sys.executable, "-m", "loadlab.deployments.netrelay",
             "--listen", f"{self.db_address}:{port}", "--upstream", f"127.0.0.1:{port}",
             "--control", str(self.control)],
            log_path=self.workdir / f"{self.namespace}-relay.log",
        ).start()  # fmt: skip
        self._await_relay(self.rtt_ms or 0.0)

    def _write_control(self, rtt_ms: float) -> None:
        tmp = self.control.with_name(self.control.name + ".tmp")
        tmp.write_text(json.dumps({"rtt_ms": rtt_ms, "jitter_ms": self.settings.jitter_ms}))
        tmp.replace(self.control)

    def _await_relay(self, rtt_ms: float) -> None:
        applied = self.control.with_name(self.control.name + ".applied")

        def in_force() -> bool:
            with contextlib.suppress(OSError, ValueError):
                return bool(json.loads(applied.read_text())["rtt_ms"] == rtt_ms)
            return False

        if not wait_until(in_force, 15, 0.02):
            tail = self.relay.log_tail() if self.relay else ""
            raise LabError(f"the delay relay did not take {rtt_ms:g} ms RTT:\n{tail}")

    # ------------------------------------------------------------ using
    def set_rtt(self, rtt_ms: float) -> None:
        """Change the round trip in place: connections stay open, new packets see the delay."""
        if rtt_ms == self.rtt_ms:
            return
        if self.emulator == "netem":
            for dev in (self.host_if, self.ns_if):
                _run(self._tc(dev, "netem", rtt_ms), f"setting {rtt_ms:g} ms RTT on {dev}")
        else:
            self._write_control(rtt_ms)
            if self.relay is not None:
                os.kill(self.relay.pid, signal.SIGHUP)
                self._await_relay(rtt_ms)
        self.rtt_ms = rtt_ms
        self.qdiscs[f"{rtt_ms:g}"] = self.qdisc_lines()

    def qdisc_lines(self) -> list[str]:
        lines = []
        for ns_args, dev in (([], self.host_if), (["-n", self.namespace], self.ns_if)):
            shown = _run(["tc", *ns_args, "qdisc", "show", "dev", dev], "tc", check=False)
            lines += [f"{dev}: {line.strip()}" for line in shown.stdout.splitlines()]
        if self.emulator == "relay":
            lines.append(
                f"relay: each direction delayed {self.rtt_ms or 0.0:g}/2 ms"
                + (f" ± {self.settings.jitter_ms / 2:g} ms" if self.settings.jitter_ms else "")
            )
        return lines

    def measure(self, dsn: str, samples: int = 100) -> dict[str, float]:
        """Round trip of `SELECT 1` over the link, as the app servers will see it."""
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(5):  # the first queries pay for catalog lookups
                conn.execute("SELECT 1").fetchone()
            times = []
            for _ in range(samples):
                start = time.perf_counter()
                conn.execute("SELECT 1").fetchone()
                times.append((time.perf_counter() - start) * 1000)
        times.sort()
        found = {
            "median_ms": round(statistics.median(times), 3),
            "p10_ms": round(times[len(times) // 10], 3),
            "p90_ms": round(times[len(times) * 9 // 10], 3),
            "samples": float(samples),
        }
        if self.rtt_ms is not None:
            self.measured[f"{self.rtt_ms:g}"] = found
        return found

    def record(self) -> dict[str, Any]:
        """The link as the manifest states it."""
        return {
            "namespace": self.namespace,
            "subnet": str(self.subnet),
            "host_interface": self.host_if,
            "host_address": self.host_address,
            "db_interface": self.ns_if,
            "db_address": self.db_address,
            "emulator": self.emulator,
            **({"emulator_note": self.emulator_note} if self.emulator_note else {}),
            "delay_placement": "half the round trip on each direction's egress "
            "(root-side veth: app to database; namespace-side veth: database to app)",
            "jitter_ms": self.settings.jitter_ms,
            "rate": self.settings.rate or "unlimited",
            "qdiscs": dict(self.qdiscs),
            "measured_rtt": dict(self.measured),
        }

    # ------------------------------------------------------------ teardown
    def destroy(self) -> None:
        if self.relay is not None:
            self.relay.stop(timeout=5)
        remove_namespace(self.namespace, self.host_if)
        for path in (self.control, self.control.with_name(self.control.name + ".applied")):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def emulated_link(settings: NetworkEmulation, workdir: Path) -> Iterator[EmulatedLink]:
    """A namespace and veth pair for PostgreSQL, removed when the block ends, however it ends."""
    require_privileges()
    sweep_stale()
    namespace = f"{PREFIX}{secrets.token_hex(3)}"
    link = EmulatedLink(namespace, free_subnet(), settings, workdir)
    OWNERS.mkdir(parents=True, exist_ok=True)
    # the owner file first: a run killed between here and `create` still leaves a trail
    (OWNERS / f"{namespace}.json").write_text(
        json.dumps({"pid": os.getpid(), "host_if": link.host_if, "subnet": str(link.subnet)})
    )
    try:
        link.create()  # no delay yet: seeding and checks run at full speed
        yield link
    finally:
        link.destroy()
