"""A distributed Locust swarm: one master and N worker processes on this machine, and how
many workers a cell gets (`SwarmSizing`: forced, or sized by measurement)."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labcontract.env import SwarmEnv
from labcontract.measurement import Measurement
from loadlab.core.errors import LabError
from loadlab.core.paths import REPO_ROOT, venv_bin
from loadlab.core.results import CellSpec, LoadLevel
from loadlab.deployments.ports import free_port
from loadlab.deployments.processes import ManagedProcess
from loadlab.deployments.swarm_run import wait_for_master
from loadlab.deployments.swarm_spec import SwarmSpec, WebUi

LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"


def swarm_environment(
    *,
    workload: str,
    load: LoadLevel,
    users_seeded: int,
    warmup_s: float,
    duration_s: float,
    measurement_out: Path,
    window_s: float = 0.0,
    swarm: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The LOADLAB_* variables (labcontract.env.SwarmEnv), identical on master and workers.
    `window_s` > 0 also records a latency histogram per window of that length (soak runs);
    `swarm` (how the workers were sized) is copied into measurement.json by the master."""
    return SwarmEnv(
        workload=workload,
        users_seeded=users_seeded,
        arrival_rate=load.rate if load.model == "open" and load.rate else 0.0,
        swarm_users=load.users,
        think_ms=load.think_time_ms,
        warmup_s=warmup_s,
        duration_s=warmup_s + duration_s,
        measurement_out=str(measurement_out),
        window_s=window_s,
        swarm=swarm,
    ).to_env()


def cell_environment(
    spec: CellSpec,
    config: Any,
    *,
    users_seeded: int,
    measurement_out: Path,
    swarm: dict[str, Any] | None = None,
) -> dict[str, str]:
    """`swarm_environment` for one cell of a run: its workload, load and windows, and the
    run's soak windows when it is a soak run. Every backend's cells start from this."""
    return swarm_environment(
        workload=spec.workload,
        load=spec.load,
        users_seeded=users_seeded,
        warmup_s=spec.warmup_s,
        duration_s=spec.duration_s,
        measurement_out=measurement_out,
        window_s=config.soak.window_s if config.soak.enabled else 0.0,
        swarm=swarm,
    )


AUTO = "auto"


def most_workers(cpus: set[int] | None = None) -> int:
    """The most Locust workers auto sizing runs: one per core the load generator may use."""
    return len(cpus) if cpus else len(os.sched_getaffinity(0))


def fixed_workers(locust_workers: int | str, cpus: set[int] | None = None) -> int:
    """The count for a backend that does not size by measurement (compose): a number as
    given; "auto" as one worker per core of the load generator's own CPU set."""
    return most_workers(cpus) if locust_workers == AUTO else int(locust_workers)


def next_worker_count(
    workers: int, busiest_worker_cpu: float | None, threshold: float, most: int
) -> int | None:
    """Auto sizing's one decision, after a cell ran with `workers` Locust workers: one more
    worker when the busiest one's mean CPU over the measured window (percent of one core)
    passed `threshold` (the validity limit, Validity.loadgen_cpu_percent) and the machine has
    a core for it; None: the cell stands as it ran."""
    if busiest_worker_cpu is None or busiest_worker_cpu <= threshold or workers >= most:
        return None
    return workers + 1


@dataclass
class SwarmSizing:
    """How many Locust workers a cell runs with.

    `fixed` forces a count. Otherwise (auto) a cell starts with the count its group (variant,
    knobs, workload, load level; a capacity search's steps share one) needed last, one at
    first, and is run again with one more whenever a worker saturated (`next_worker_count`),
    up to `most`. One worker costs the least CPU per request, and on a co-located machine
    the load generator's CPU is the app's loss; a second is worth it only when one cannot
    keep up. The group remembers, so its later repeats start where the first one ended."""

    fixed: int | None
    most: int
    threshold: float
    learned: dict[Hashable, int] = field(default_factory=dict)

    @classmethod
    def from_config(
        cls, locust_workers: int | str, threshold: float, cpus: set[int] | None = None
    ) -> SwarmSizing:
        fixed = None if locust_workers == AUTO else int(locust_workers)
        return cls(fixed=fixed, most=most_workers(cpus), threshold=threshold)

    @property
    def auto(self) -> bool:
        return self.fixed is None

    def first(self, group: Hashable) -> int:
        if self.fixed is not None:
            return self.fixed
        return min(self.learned.get(group, 1), self.most)

    def after(self, group: Hashable, workers: int, busiest_worker_cpu: float | None) -> int | None:
        """The count to run the cell again with, or None when it stands (and is learned)."""
        more = (
            None
            if self.fixed is not None
            else next_worker_count(workers, busiest_worker_cpu, self.threshold, self.most)
        )
        if self.fixed is None:
            self.learned[group] = more or workers
        return more

    def record(self, workers: int, earlier: list[dict[str, Any]]) -> dict[str, Any]:
        """What measurement.json's `swarm` says: the count this cell ran with and why."""
        return {
            "sizing": AUTO if self.auto else "fixed",
            "workers": workers,
            "most": self.most if self.auto else workers,
            "threshold_percent": self.threshold,
            "earlier_attempts": earlier,
        }


@dataclass
class Swarm:
    host_url: str
    cell_dir: Path
    workers: int
    load: LoadLevel
    env: dict[str, str]
    cpuset: set[int] | None = None
    web: WebUi | None = None
    master: ManagedProcess | None = None
    worker_procs: list[ManagedProcess] = field(default_factory=list)

    @property
    def total_s(self) -> float:
        return SwarmEnv.from_env(self.env).duration_s

    @property
    def staging(self) -> Path:
        """Locust rewrites its CSVs in place while it runs; they live here until the master
        has exited and are then renamed into the cell, so the cell only ever holds whole files."""
        return self.cell_dir / ".locust-partial"

    def pids(self) -> dict[str, list[int]]:
        return {
            "locust-master": [self.master.pid] if self.master else [],
            "locust-worker": [w.pid for w in self.worker_procs],
        }

    def _env(self) -> dict[str, str]:
        return {**os.environ, **self.env, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"}

    def spec(self, master_port: int) -> SwarmSpec:
        return SwarmSpec(
            target_url=self.host_url,
            users=self.load.users,
            total_s=self.total_s,
            workers=self.workers,
            csv_prefix=str(self.staging / "locust"),
            environment=self.env,
            locustfile=str(LOCUSTFILE),
            master_bind_host="127.0.0.1",
            master_port=master_port,
            web=self.web,
        )

    def start(self) -> Swarm:
        spec = self.spec(free_port())
        locust = venv_bin("locust")
        self.staging.mkdir(parents=True, exist_ok=True)
        self.master = ManagedProcess(
            "locust-master",
            spec.master_command(locust),
            log_path=self.cell_dir / "locust-master.log",
            env=self._env(),
            cwd=REPO_ROOT,
            cpuset=self.cpuset,
        ).start()
        for index in range(self.workers):
            self.worker_procs.append(
                ManagedProcess(
                    f"locust-worker-{index}",
                    spec.worker_command(locust),
                    log_path=self.cell_dir / f"locust-worker-{index}.log",
                    env=self._env(),
                    cwd=REPO_ROOT,
                    cpuset=self.cpuset,
                ).start()
            )
        return self

    def wait(
        self,
        tick: Callable[[float], None] | None = None,
        stop_early: Callable[[], bool] | None = None,
    ) -> Measurement:
        """Wait for the master to finish; returns its measurement.json. When
        `stop_early` says so, the master is asked to end the test now (SIGTERM: Locust stops
        its workers and still writes what it measured)."""
        master = self.master
        assert master is not None
        wait_for_master(
            running=master.alive,
            stop=lambda: os.kill(master.pid, signal.SIGTERM),
            total_s=self.total_s,
            grace_s=90,
            log=master.log_path,
            tick=tick,
            stop_early=stop_early,
        )
        out = Path(SwarmEnv.from_env(self.env).measurement_out)
        if not out.exists():
            raise LabError(
                f"the Locust master exited (code {self.master.returncode()}) "
                f"without writing {out.name}:\n{self.master.log_tail()}",
                hint=f"see {self.master.log_path}",
            )
        return Measurement.read(out)

    def stop(self) -> None:
        for proc in [*self.worker_procs, *([self.master] if self.master else [])]:
            proc.stop(timeout=5)
        self.publish_csvs()

    def publish_csvs(self) -> None:
        """Rename Locust's finished CSVs from the staging folder into the cell (same file
        system, so each rename is atomic); only once no Locust process can write them."""
        if not self.staging.is_dir():
            return
        for path in sorted(self.staging.iterdir()):
            os.replace(path, self.cell_dir / path.name)
        shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> Swarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
