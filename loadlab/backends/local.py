"""The embedded default: a private Postgres, the variants and Locust as child processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadlab import pgstats
from loadlab.appserver import AppServer
from loadlab.config import CpuSets, RunConfig
from loadlab.dataset import SeedProgress, ensure_seeded
from loadlab.paths import lab_home
from loadlab.postgres import PostgresCluster
from loadlab.progress import Progress
from loadlab.registry import get_variant
from loadlab.results import CellSpec, write_json_atomic
from loadlab.swarm import Swarm, swarm_environment
from loadlab.telemetry import Sampler, fixed


def cluster_for(config: RunConfig | None = None) -> PostgresCluster:
    db_cpus = CpuSets.parse(config.cpusets.db) if config and config.cpusets else None
    return PostgresCluster(home=lab_home() / "pg", cpuset=db_cpus)


class LocalLab:
    def __init__(
        self, config: RunConfig, cluster: PostgresCluster, data: dict[str, Any], log_dir: Path
    ):
        self.config = config
        self.cluster = cluster
        self.data = data
        self.log_dir = log_dir
        sets = config.cpusets
        self.app_cpus = CpuSets.parse(sets.app) if sets else None
        self.load_cpus = CpuSets.parse(sets.load) if sets else None
        self.app_workers = config.app_workers or (
            len(self.app_cpus) if self.app_cpus else len(os.sched_getaffinity(0))
        )
        self.postgres = {
            "version": cluster.version(),
            "settings": cluster.current_settings(),
            "host": "127.0.0.1 (private cluster started by the lab)",
            "data_directory": str(cluster.data_dir),
        }
        self.topology = {
            "backend": "local",
            "hosts": {"localhost": ["postgres", "app", "locust-master", "locust-worker"]},
            "locust_workers": config.locust_workers,
            "app_workers": self.app_workers,
        }
        self.caveats = []
        if not sets:
            self.caveats.append(
                f"load generator, app and database share the same {len(os.sched_getaffinity(0))} "
                "cores (co-located, no CPU pinning): every variant bears the same handicap, but "
                "absolute figures understate a dedicated server"
            )

    @property
    def dsn(self) -> str:
        return self.cluster.dsn()

    @property
    def admin_dsn(self) -> str:
        return self.cluster.admin_dsn()

    @contextlib.contextmanager
    def serve(self, variant: str) -> Iterator[AppServer]:
        with AppServer(
            get_variant(variant),
            self.cluster.dsn(),
            self.log_dir,
            workers=self.app_workers,
            pool_size=self.config.pool_size,
            cpuset=self.app_cpus,
        ) as server:
            yield server

    def run_cell(
        self, spec: CellSpec, served: AppServer, cell_dir: Path, progress: Progress
    ) -> None:
        env = swarm_environment(
            workload=spec.workload,
            load=spec.load,
            users_seeded=int(self.data["users"]),
            warmup_s=spec.warmup_s,
            duration_s=spec.duration_s,
            measurement_out=cell_dir / "measurement.json",
        )
        before = pgstats.snapshot(self.admin_dsn)
        swarm = Swarm(
            served.url, cell_dir, self.config.locust_workers, spec.load, env, cpuset=self.load_cpus
        )
        components = {
            "app": fixed(served.pid),
            "postgres": fixed(self.cluster.postmaster_pid()),
            "locust-master": lambda: swarm.pids()["locust-master"],
            "locust-worker": lambda: swarm.pids()["locust-worker"],
        }
        with Sampler(cell_dir / "resources.csv", components), swarm:
            swarm.wait(lambda elapsed: progress.cell_tick(elapsed, swarm.total_s))
        write_json_atomic(
            cell_dir / "pg_stat_statements.json",
            pgstats.delta(before, pgstats.snapshot(self.admin_dsn)),
        )


@contextlib.contextmanager
def local_lab(config: RunConfig, run_dir: Path, progress: Progress) -> Iterator[LocalLab]:
    cluster = cluster_for(config)
    progress.phase("starting PostgreSQL")
    with cluster.running():
        seed_progress: SeedProgress = progress.seed
        progress.phase(f"checking the seeded data (scale {config.scale:g})")
        data = ensure_seeded(cluster, config.scale, config.data_seed, seed_progress)
        yield LocalLab(config, cluster, data, run_dir / "logs")
