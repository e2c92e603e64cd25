"""Start one variant of the services for real (gunicorn or uvicorn) and wait until it serves."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT, venv_bin
from loadlab.core.registry import Knobs, Variant
from loadlab.core.results import VariantRecord
from loadlab.deployments.ports import ensure_port_free, free_port
from loadlab.deployments.processes import ManagedProcess


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/healthz", timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


@dataclass
class AppServer:
    """`knobs` may be partial: the rest take their stock values, "cpus" read as `workers`
    (default: the CPUs this process may use); `workers` and `pool_size` override them."""

    variant: Variant
    database_url: str
    log_dir: Path
    workers: int | None = None
    pool_size: int | None = None
    host: str = "127.0.0.1"
    port: int | None = None
    cpuset: set[int] | None = None
    startup_timeout: float = 60.0
    knobs: Knobs | None = None
    profile: str = "stock"

    def __post_init__(self) -> None:
        cpus = len(self.cpuset) if self.cpuset else len(os.sched_getaffinity(0))
        given = {**(self.knobs or {})}
        # the lab's defaults apply to the variants that have the knob (a test-only variant
        # may fix its worker count in its command line)
        for name, value in (("workers", self.workers), ("pool_size", self.pool_size)):
            if value is not None and name in self.variant.knobs and name not in given:
                given[name] = value
        self.knobs = self.variant.settings(given, cpus=cpus)
        self.workers = int(self.knobs.get("workers", self.workers or cpus))
        self.pool_size = int(self.knobs.get("pool_size", self.variant.pool_size))
        if self.port is None:
            self.port = free_port(self.host)
        else:
            ensure_port_free(self.port, self.host, what=f"variant {self.variant.name}")
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        """Is the server's master process still running? (Its workers may outlive it.)"""
        return self.process is not None and self.process.alive()

    def record(self) -> VariantRecord:
        assert self.port is not None
        return self.variant.record(
            host=self.host,
            port=self.port,
            knobs=self.knobs,
            profile=self.profile,
            cpuset=",".join(map(str, sorted(self.cpuset))) if self.cpuset else None,
        )

    def argv(self) -> list[str]:
        assert self.port is not None
        argv = self.variant.render(host=self.host, port=self.port, knobs=self.knobs)
        return [venv_bin(argv[0]), *argv[1:]]

    def start(self) -> AppServer:
        env = {
            **os.environ,
            **self.variant.environment(database_url=self.database_url, knobs=self.knobs),
            "PYTHONPATH": str(REPO_ROOT),
        }
        self.process = ManagedProcess(
            self.variant.name,
            self.argv(),
            log_path=self.log_dir / f"{self.variant.name}.log",
            env=env,
            cwd=REPO_ROOT,
            cpuset=self.cpuset,
        ).start()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if not self.process.alive():
                tail = self.process.log_tail()
                self.stop()
                raise LabError(
                    f"variant {self.variant.name} exited during start-up:\n{tail}",
                    hint=f"see {self.process.log_path}",
                )
            if healthy(self.url):
                return self
            time.sleep(0.25)
        tail = self.process.log_tail()
        self.stop()
        raise LabError(
            f"variant {self.variant.name} did not answer /healthz within "
            f"{self.startup_timeout:.0f}s:\n{tail}",
            hint="check that Postgres is reachable from the app (`loadlab db up`) "
            f"and see {self.log_dir / (self.variant.name + '.log')}",
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
