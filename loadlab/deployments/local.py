"""The embedded default: a private Postgres, the variants and Locust as child processes."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labcontract.measurement import Measurement
from loadlab.core.config import CpuSets, RunConfig
from loadlab.core.errors import LabError
from loadlab.core.paths import lab_home
from loadlab.core.progress import Progress
from loadlab.core.registry import get_variant
from loadlab.core.results import CellSpec
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.dataset import SeedProgress, ensure_seeded
from loadlab.deployments.netem import EmulatedLink, emulated_link
from loadlab.deployments.ports import preferred_port
from loadlab.deployments.postgres import PostgresCluster
from loadlab.deployments.swarm import Swarm, SwarmSizing, cell_environment
from loadlab.deployments.swarm_run import watched_cell
from loadlab.deployments.swarm_spec import WEB_PORT, WebUi
from loadlab.measurement.faults import CellWatch
from loadlab.measurement.telemetry import Sampler, fixed


def cluster_for(config: RunConfig | None = None) -> PostgresCluster:
    db_cpus = CpuSets.parse(config.cpusets.db) if config and config.cpusets else None
    return PostgresCluster(home=lab_home() / "pg", cpuset=db_cpus)


class LocalLab:
    def __init__(
        self,
        config: RunConfig,
        cluster: PostgresCluster,
        data: dict[str, Any],
        log_dir: Path,
        link: EmulatedLink | None = None,
    ):
        self.config = config
        self.cluster = cluster
        self.data = data
        self.log_dir = log_dir
        self.link = link
        sets = config.cpusets
        self.app_cpus = CpuSets.parse(sets.app) if sets else None
        self.load_cpus = CpuSets.parse(sets.load) if sets else None
        self.app_workers = config.app_workers or (
            len(self.app_cpus) if self.app_cpus else len(os.sched_getaffinity(0))
        )
        self.postgres = {
            "version": cluster.version(),
            "settings": cluster.current_settings(),
            "host": "127.0.0.1 (private cluster started by the lab)"
            if link is None
            else f"{link.db_address} in network namespace {link.namespace} (emulated link)",
            "data_directory": str(cluster.data_dir),
        }
        if link is not None:
            self.postgres["network"] = link.record()
        self.web = WebUi(port=preferred_port(WEB_PORT)) if config.web else None
        self.sizing = SwarmSizing.from_config(
            config.locust_workers, config.validity.loadgen_cpu_percent, self.load_cpus
        )
        self.topology = {
            "backend": "local",
            "hosts": {"localhost": ["postgres", "app", "locust-master", "locust-worker"]},
            "locust_workers": config.locust_workers,
            "locust_workers_most": self.sizing.most if self.sizing.auto else config.locust_workers,
            "locust_workers_by_cell": {},  # cell id -> the workers it ran with (auto: measured)
            "app_workers": self.app_workers,
            **({"locust_web": self.web.url} if self.web else {}),
        }
        self.caveats = []
        if link is not None:
            self.topology["hosts"] = {
                "localhost": ["app", "locust-master", "locust-worker"],
                f"{link.namespace} (netns, {link.db_address})": ["postgres"],
            }
            self.topology["db_link"] = link.record()
            if link.emulator_note:
                self.caveats.append(
                    f"database round trip emulated without netem: {link.emulator_note}"
                )
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
    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> Iterator[AppServer]:
        with AppServer(
            get_variant(variant),
            self.dsn,
            self.log_dir,
            workers=self.app_workers,
            knobs=knobs,
            profile=profile,
            cpuset=self.app_cpus,
        ) as server:
            yield server

    def run_cell(
        self, spec: CellSpec, served: AppServer, cell_dir: Path, progress: Progress
    ) -> None:
        """Drive one cell. With locust_workers = "auto" (loadlab.deployments.swarm.SwarmSizing) a cell in
        which a Locust worker saturated runs again with one more worker, while a core is left
        for it; an earlier attempt's files move to `attempts/<n>-workers/` in the cell."""
        group = sizing_group(spec)
        workers = self.sizing.first(group)
        earlier: list[dict[str, Any]] = []
        while True:
            swarm = self.sizing.record(workers, earlier)
            faulted = self._attempt(spec, served, cell_dir, progress, workers, swarm)
            self.topology["locust_workers_by_cell"][spec.cell_id] = workers
            measured = _attempt_figures(cell_dir)
            busiest = None if faulted else measured.get("busiest_worker_cpu_percent")
            more = self.sizing.after(group, workers, busiest)
            if more is None:
                return
            earlier.append({"workers": workers, **measured})
            _set_aside(cell_dir, cell_dir / "attempts" / f"{workers}-workers")
            progress.phase(
                f"{spec.cell_id}: a Locust worker averaged {busiest:.0f}% of a core; "
                f"running the cell again with {more} workers"
            )
            workers = more

    def _attempt(
        self,
        spec: CellSpec,
        served: AppServer,
        cell_dir: Path,
        progress: Progress,
        workers: int,
        swarm_record: dict[str, Any],
    ) -> bool:
        """One run of the cell with `workers` Locust workers; True when a fault cut it."""
        env = cell_environment(
            spec,
            self.config,
            users_seeded=int(self.data["users"]),
            measurement_out=cell_dir / "measurement.json",
            swarm=swarm_record,
        )
        if self.link is not None and spec.db_rtt_ms is not None:
            self.link.set_rtt(spec.db_rtt_ms)
        swarm = Swarm(
            served.url, cell_dir, workers, spec.load, env, cpuset=self.load_cpus, web=self.web
        )
        components = {
            "app": fixed(served.pid),
            "postgres": fixed(self.cluster.postmaster_pid()),
            "locust-master": lambda: swarm.pids()["locust-master"],
            "locust-worker": lambda: swarm.pids()["locust-worker"],
        }
        if self.link is not None and self.link.relay is not None:
            components["db-link"] = fixed(self.link.relay.pid)
        watch = CellWatch(
            cell_dir, served.process, lambda: swarm.worker_procs, self.cluster.postmaster_pid
        )

        def stop_early() -> bool:
            watch.poll()
            return watch.stop_cell

        # USS costs a smaps read a process and sample; only soak analysis uses it
        sampler = Sampler(cell_dir / "resources.csv", components, uss=self.config.soak.enabled)
        watched_cell(
            swarm, [sampler, swarm], watch, progress,
            stop_early=stop_early, admin_dsn=self.admin_dsn, cell_dir=cell_dir,
        )  # fmt: skip
        return bool(watch.faults)


def sizing_group(spec: CellSpec) -> tuple[Any, ...]:
    """Cells that need the same swarm: a matrix cell's repeats; a capacity search's steps."""
    level = spec.load.label if spec.phase == "matrix" else spec.load.model
    knobs = tuple(sorted(spec.knobs.items()))
    return (spec.phase, spec.variant, knobs, spec.workload, level, spec.db_rtt_ms)


def _attempt_figures(cell_dir: Path) -> dict[str, Any]:
    """An attempt's throughput and its busiest Locust worker's mean CPU (percent of one core)
    over the measured window, as analysis computes them; {} without a measurement."""
    from loadlab.measurement.analysis import component_usage

    path = cell_dir / "measurement.json"
    if not path.exists():
        return {}
    measurement = Measurement.read(path)
    usage = component_usage(
        cell_dir / "resources.csv",
        measurement.measure_from_wall or 0.0,
        measurement.stop_wall or float("inf"),
    ).get("locust-worker")
    measured = measurement.measured_s
    good = measurement.requests - measurement.errors
    return {
        "busiest_worker_cpu_percent": usage.busiest_process_cpu_mean_percent if usage else None,
        "throughput_rps": round(good / measured, 1) if measured else None,
    }


def _set_aside(cell_dir: Path, to: Path) -> None:
    """Move an attempt's files out of the cell (all but cell.json and earlier attempts)."""
    to.mkdir(parents=True, exist_ok=True)
    for path in cell_dir.iterdir():
        if path.name not in {"cell.json", "attempts"}:
            os.replace(path, to / path.name)


@contextlib.contextmanager
def local_lab(config: RunConfig, run_dir: Path, progress: Progress) -> Iterator[LocalLab]:
    cluster = cluster_for(config)
    if config.network is not None:
        with behind_emulated_link(cluster, config, run_dir, progress) as lab:
            yield lab
        return
    progress.phase("starting PostgreSQL")
    with cluster.running():
        seed_progress: SeedProgress = progress.seed
        progress.phase(f"checking the seeded data (scale {config.scale:g})")
        data = ensure_seeded(cluster, config.scale, config.data_seed, seed_progress)
        yield _announced(LocalLab(config, cluster, data, run_dir / "logs"), progress)


def _announced(lab: LocalLab, progress: Progress) -> LocalLab:
    if lab.web is not None:
        progress.note(f"Locust web UI: {lab.web.url} (each cell's swarm, while it runs)")
    return lab


def place_behind(cluster: PostgresCluster, link: EmulatedLink) -> None:
    """Point the (stopped) cluster at the link: started next inside its namespace, reached
    from the root namespace at the link's database address, admitting the link's subnet."""
    cluster.netns, cluster.listen_address = link.namespace, link.postgres_listen
    cluster.host, cluster.port = link.db_address, None
    cluster.init()
    cluster.admit(str(link.subnet))


@contextlib.contextmanager
def behind_emulated_link(
    cluster: PostgresCluster, config: RunConfig, run_dir: Path, progress: Progress
) -> Iterator[LocalLab]:
    """The same cluster, started inside a network namespace behind netem for the run.

    A cluster already running outside (`loadlab db up`) is stopped for the run and started
    again afterwards on its old port, so the lab leaves it as it found it."""
    network = config.network
    assert network is not None
    progress.phase("creating the emulated database link")
    with emulated_link(network, run_dir / "logs") as link:
        previous_port = None
        if cluster.running_pid():
            cluster.start()  # learns the running cluster's port, changes nothing
            previous_port = cluster.port
            progress.phase("moving PostgreSQL behind the emulated link")
            cluster.stop()
        try:
            place_behind(cluster, link)
            progress.phase(f"starting PostgreSQL in {link.namespace}")
            with cluster.running():
                link.expose(int(cluster.port or 0))
                progress.phase(f"checking the seeded data (scale {config.scale:g})")
                data = ensure_seeded(cluster, config.scale, config.data_seed, progress.seed)
                for rtt in network.db_rtt_ms:
                    progress.phase(f"measuring the database round trip at {rtt:g} ms")
                    link.set_rtt(rtt)
                    link.measure(cluster.dsn())
                link.set_rtt(network.db_rtt_ms[0])
                yield _announced(LocalLab(config, cluster, data, run_dir / "logs", link), progress)
        finally:
            cluster.netns, cluster.listen_address, cluster.host = None, "127.0.0.1", "127.0.0.1"
            if previous_port is not None and not cluster.running_pid():
                cluster.port = previous_port
                with contextlib.suppress(LabError):  # never hide why the run ended
                    cluster.start()
