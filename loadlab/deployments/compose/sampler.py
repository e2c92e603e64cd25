"""Resource samples of a compose project's containers: the process sampler itself
(loadlab.measurement.telemetry.Sampler, the same resources.csv with RSS and USS) applied to
the containers' processes, which this machine sees because the engine is local.

A component's roots are its services' running containers' first processes, found by label
as containers come and go (the Locust workers start after the sampler); the sampler adds
their descendants (a gunicorn master's workers, Postgres' backends). The `docker-init` a
service with `init: true` starts is left out: the component is what runs under it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import docker
import docker.errors
import psutil

from loadlab.deployments.compose.engine import ENGINE_ERRORS, connect
from loadlab.deployments.compose.settings import PROJECT_LABEL, SERVICE_LABEL
from loadlab.measurement.telemetry import Sampler

INIT_PROCESS = "docker-init"


class ContainerRoots:
    """The host pids of a project's running containers, by service, read at most every
    `max_age` seconds (one listing serves every component of a sample)."""

    def __init__(self, engine: docker.DockerClient, project: str, max_age: float = 0.4) -> None:
        self.engine = engine
        self.project = project
        self.max_age = max_age
        self._lock = threading.Lock()
        self._read_at = float("-inf")
        self._by_service: dict[str, list[int]] = {}
        self._pids: dict[str, int] = {}  # container id -> its first process

    def _refresh(self) -> None:
        filters = {"label": f"{PROJECT_LABEL}={self.project}"}
        try:
            listed = self.engine.api.containers(filters=filters)  # running ones, no inspect
        except ENGINE_ERRORS:
            return
        by_service: dict[str, list[int]] = {}
        for entry in listed:
            cid = entry["Id"]
            pid = self._pids.get(cid)
            if pid is None or not psutil.pid_exists(pid):  # new, or restarted since
                try:
                    pid = int(self.engine.api.inspect_container(cid)["State"]["Pid"] or 0)
                except ENGINE_ERRORS:
                    continue
                self._pids[cid] = pid
            service = (entry.get("Labels") or {}).get(SERVICE_LABEL, "")
            by_service.setdefault(service, []).extend(_below_init(pid))
        self._by_service = by_service

    def of(self, services: Iterable[str]) -> Callable[[], list[int]]:
        wanted = tuple(services)

        def roots() -> list[int]:
            with self._lock:
                if time.monotonic() - self._read_at > self.max_age:
                    self._refresh()
                    self._read_at = time.monotonic()
                return [pid for s in wanted for pid in self._by_service.get(s, [])]

        return roots


def _below_init(pid: int) -> list[int]:
    if not pid:
        return []
    try:
        proc = psutil.Process(pid)
        if proc.name() == INIT_PROCESS:
            return [child.pid for child in proc.children()]
    except psutil.Error:
        return []
    return [pid]


def container_sampler(
    docker_cli: str,
    project: str,
    out: Path,
    components: dict[str, list[str]],
    uss: bool,
) -> Sampler:
    """A Sampler of `components` (a name -> its compose services). It gets a connection of
    its own: it asks the engine from its thread while the run asks from the main one."""
    roots = ContainerRoots(connect(docker_cli), project)
    return Sampler(
        out, {name: roots.of(services) for name, services in components.items()}, uss=uss
    )
