"""Per-component CPU and memory sampling with psutil, into a CSV with a row per process and
sample. Memory is RSS and USS: RSS counts shared pages (Postgres' shared buffers) once per
process that touched them, so only USS, the memory a process alone holds, adds up across a
component's processes and tells a leak from a warming cache.

A component is a set of root processes plus all their descendants (an app server's workers,
Postgres' backends). Runs as a thread in the orchestrator, or stand-alone on a remote node:

    python -m loadlab.measurement.telemetry --out resources.csv --component app=1234 --match postgres=postgres:
"""

from __future__ import annotations

import argparse
import csv
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import psutil

from labcontract.resources import RESOURCE_COLUMNS

FIELDS = list(RESOURCE_COLUMNS)  # the contract's columns (labcontract.resources), in order
MACHINE = "machine"


class Sampler:
    """Samples every `interval` seconds until stopped; `components` maps a name to root pids."""

    def __init__(
        self,
        out: Path,
        components: dict[str, Callable[[], Iterable[int]]],
        interval: float = 0.5,
        uss: bool = True,
    ) -> None:
        self.out = out
        self.components = components
        self.interval = interval
        # USS costs a read of smaps_rollup a process and sample (the kernel walks the page
        # tables: most of a millisecond for a Postgres backend): only soak analysis uses it,
        # and without it uss_bytes stays empty, as for a process whose smaps cannot be read
        self.uss = uss
        self._procs: dict[int, psutil.Process] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tmp = out.with_name(f".{out.name}.tmp")

    def _tracked(self, pid: int) -> psutil.Process | None:
        proc = self._procs.get(pid)
        if proc is None:
            try:
                proc = psutil.Process(pid)
                proc.cpu_percent(None)  # the first call only primes the counter
            except psutil.Error:
                return None
            self._procs[pid] = proc
            return None
        return proc

    def _members(
        self, roots: Iterable[int], children: dict[int, list[int]] | None = None
    ) -> set[int]:
        """The roots that still run and all their descendants; `children` (parent -> child
        pids, from `child_map`) saves reading the process table once per component."""
        children = child_map() if children is None else children
        pids: set[int] = set()
        todo = [root for root in roots if psutil.pid_exists(root)]
        while todo:
            pid = todo.pop()
            if pid not in pids:
                pids.add(pid)
                todo.extend(children.get(pid, ()))
        return pids

    def sample_once(self, writer: csv.writer) -> None:  # type: ignore[valid-type]
        now = round(time.time(), 3)
        children = child_map()  # one pass over the process table for every component
        for component, roots in self.components.items():
            for pid in sorted(self._members(roots(), children)):
                proc = self._tracked(pid)
                if proc is None:
                    continue
                try:
                    with proc.oneshot():
                        cpu = proc.cpu_percent(None)
                        rss, uss = _memory(proc) if self.uss else (proc.memory_info().rss, "")
                except psutil.Error:
                    self._procs.pop(pid, None)
                    continue
                writer.writerow([now, component, pid, round(cpu, 1), rss, uss])
        total = psutil.cpu_percent(None) * psutil.cpu_count()
        writer.writerow([now, MACHINE, 0, round(total, 1), psutil.virtual_memory().used, ""])

    def run(self) -> None:
        psutil.cpu_percent(None)
        with self._tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FIELDS)
            # one priming pass so that the first written sample already measures an interval
            children = child_map()
            for roots in self.components.values():
                for pid in self._members(roots(), children):
                    self._tracked(pid)
            while not self._stop.wait(self.interval):
                self.sample_once(writer)
                handle.flush()
        os.replace(self._tmp, self.out)

    def start(self) -> Sampler:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self.run, name="telemetry", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Sampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _memory(proc: psutil.Process) -> tuple[int, int | str]:
    """(RSS, USS) from one read of smaps; USS is "" where smaps cannot be read (another
    user's process when not root), and the row keeps its CPU and RSS either way."""
    try:
        full = proc.memory_full_info()
    except psutil.AccessDenied:
        return proc.memory_info().rss, ""
    return full.rss, full.uss


def child_map() -> dict[int, list[int]]:
    """parent pid -> its children's pids, from one pass over the process table (what
    psutil's Process.children reads, per call: once per component and sample before)."""
    parents: dict[int, int]
    ppid_map = getattr(psutil, "_ppid_map", None)  # one read of /proc/*/stat on Linux
    if ppid_map is not None:
        try:
            parents = dict(ppid_map())
        except (psutil.Error, OSError):
            ppid_map = None
    if ppid_map is None:
        parents = {p.pid: p.info["ppid"] for p in psutil.process_iter(["ppid"])}
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    return children


def fixed(*pids: int | None) -> Callable[[], list[int]]:
    return lambda: [pid for pid in pids if pid]


def matching(pattern: str) -> Callable[[], list[int]]:
    """Root processes whose command line contains `pattern` (for nodes where pids are unknown)."""

    def roots() -> list[int]:
        found = []
        for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
            cmdline = " ".join(proc.info.get("cmdline") or [])
            if pattern in cmdline and proc.info["pid"] != os.getpid():
                found.append(proc.info["pid"])
        return found

    return roots


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Sample CPU and RSS of process trees into a CSV.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--component", action="append", default=[], help="NAME=PID[,PID]")
    parser.add_argument("--match", action="append", default=[], help="NAME=CMDLINE-SUBSTRING")
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=0.0, help="0 = until SIGTERM/SIGINT")
    args = parser.parse_args(argv)
    components: dict[str, Callable[[], Iterable[int]]] = {}
    for spec in args.component:
        name, _, pids = spec.partition("=")
        components[name] = fixed(*(int(p) for p in pids.split(",") if p))
    for spec in args.match:
        name, _, pattern = spec.partition("=")
        components[name] = matching(pattern)
    sampler = Sampler(args.out, components, args.interval).start()
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    done.wait(args.duration or None)
    sampler.stop()


if __name__ == "__main__":
    main()
