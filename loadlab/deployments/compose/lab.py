"""ComposeLab: loadlab.deployments.base.Lab on a running compose stack, so a compose run
leaves the same `results/<run-id>/` as a local one."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from loadlab.core.config import CpuSets, RunConfig
from loadlab.core.progress import Progress
from loadlab.core.results import CellSpec
from loadlab.deployments.compose.database import postgres_facts, seed
from loadlab.deployments.compose.faults import ComposeCellWatch
from loadlab.deployments.compose.sampler import container_sampler
from loadlab.deployments.compose.settings import (
    MASTER_SERVICE,
    OUT_DIR,
    WORKER_SERVICE,
    settings_for,
)
from loadlab.deployments.compose.stack import ComposeStack
from loadlab.deployments.compose.swarm import ComposeSwarm
from loadlab.deployments.compose.variants import ComposeVariant, VariantSlot
from loadlab.deployments.swarm import SwarmSizing, cell_environment, fixed_workers
from loadlab.deployments.swarm_run import watched_cell
from loadlab.deployments.swarm_spec import LOCUSTFILE, WEB_PORT, SwarmSpec, WebUi

WATCH_INTERVAL_S = 1.0


class ComposeLab:
    def __init__(self, config: RunConfig, stack: ComposeStack, data: dict[str, Any]) -> None:
        self.config = config
        self.stack = stack
        self.data = data
        self.slot = VariantSlot(stack)
        settings = stack.settings
        # compose runs no attempts: "auto" is one worker per CPU of the load generator's set
        load_cpus = CpuSets.parse(settings.cpusets["load"])
        self.locust_workers = fixed_workers(config.locust_workers, load_cpus)
        # measurement.json says how the workers were sized, as on local: fixed, one attempt
        self.sizing = SwarmSizing.from_config(
            self.locust_workers, config.validity.loadgen_cpu_percent, load_cpus
        )
        # the master's UI listens on every interface of its container; compose publishes it
        # on this machine's loopback only (docker-compose.yml: LOADLAB_LOCUST_WEB_PORT)
        self.web_url = f"http://127.0.0.1:{settings.ports['locust-web']}" if config.web else None
        self.postgres = {
            **postgres_facts(settings.dsn),
            "host": f"compose service postgres ({stack.images.name('postgres')}), cpuset {settings.cpusets['db']}",
        }
        self.topology = {
            "backend": "compose",
            "project": stack.project,
            "engine": f"Docker {stack.engine_version}",
            "compose": stack.compose_version,
            "hosts": {
                "docker engine on this machine": [
                    "postgres",
                    "app",
                    MASTER_SERVICE,
                    WORKER_SERVICE,
                ]
            },
            "network": "the project's compose bridge network; load goes container to container",
            "locust_workers": self.locust_workers,
            "app_workers": settings.app_workers,
            "pool_size": settings.pool_size,
            "cpusets": dict(settings.cpusets),
            "images": stack.images.ids(),
            "image_software": stack.images.software(),
            "build_seconds": stack.build_seconds,
            **({"locust_web": self.web_url} if self.web_url else {}),
        }
        self.caveats = [
            f"compose backend: app (CPUs {settings.cpusets['app']}), database (CPUs "
            f"{settings.cpusets['db']}) and load generator (CPUs {settings.cpusets['load']}) run "
            "in containers on one Docker engine; requests cross a bridge network and veth pairs"
        ]
        cpus = {name: CpuSets.parse(spec) for name, spec in settings.cpusets.items()}
        if cpus["app"] & cpus["db"]:
            self.caveats.append(
                "the app and the database share CPUs "
                f"({settings.cpusets['app']}): every variant bears the same handicap"
            )
        if cpus["load"] & cpus["app"]:
            self.caveats.append(
                "the load generator shares the app's CPUs: absolute figures understate the app"
            )

    @property
    def dsn(self) -> str:
        return self.stack.settings.dsn

    @property
    def admin_dsn(self) -> str:
        return self.stack.settings.dsn  # the compose database's user is its superuser

    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> contextlib.AbstractContextManager[ComposeVariant]:
        """Start `variant` with these knobs (partial: the rest stock; see registry.py)."""
        return self.slot.serving(variant, knobs, profile)

    def swarm_spec(self, spec: CellSpec, served: ComposeVariant) -> SwarmSpec:
        env = cell_environment(
            spec,
            self.config,
            users_seeded=int(self.data["users"]),
            measurement_out=Path(OUT_DIR) / "measurement.json",
            swarm=self.sizing.record(self.locust_workers, []),
        )
        return SwarmSpec(
            target_url=served.internal_url,
            users=spec.load.users,
            total_s=spec.warmup_s + spec.duration_s,
            workers=self.locust_workers,
            csv_prefix=f"{OUT_DIR}/locust",
            environment=env,
            locustfile=LOCUSTFILE,  # the image's working directory is the lab's source tree
            master_host=MASTER_SERVICE,  # the workers find it by its service name
            web=WebUi(host="0.0.0.0", port=WEB_PORT) if self.web_url else None,
        )

    def run_cell(
        self, spec: CellSpec, served: ComposeVariant, cell_dir: Path, progress: Progress
    ) -> None:
        swarm_spec = self.swarm_spec(spec, served)
        components = {
            "app": [served.name],
            "postgres": ["postgres"],
            MASTER_SERVICE: [MASTER_SERVICE],
            WORKER_SERVICE: [WORKER_SERVICE],
        }
        # USS costs a smaps read a process and sample; only soak analysis uses it (as local)
        sampler = container_sampler(
            self.stack.docker,
            self.stack.project,
            cell_dir / "resources.csv",
            components,
            uss=self.config.soak.enabled,
        )
        swarm = ComposeSwarm(self.stack, swarm_spec, cell_dir)
        watch = ComposeCellWatch(
            cell_dir, self.stack, served.container, served.name, swarm.workers, swarm_spec.workers
        )
        polled = [float("-inf")]

        def stop_early() -> bool:
            # each poll asks the engine about every watched container: once a second, not
            # at every tick of the wait loop, since the engine's CPU is the machine's
            if time.monotonic() - polled[0] >= WATCH_INTERVAL_S:
                watch.poll()
                polled[0] = time.monotonic()
            return watch.stop_cell

        watched_cell(
            swarm, [sampler, swarm], watch, progress,
            stop_early=stop_early, admin_dsn=self.admin_dsn, cell_dir=cell_dir,
        )  # fmt: skip
        watch.after_cell()


@contextlib.contextmanager
def compose_lab(config: RunConfig, run_dir: Path, progress: Progress) -> Iterator[ComposeLab]:
    """The runner's entry point for `loadlab run --backend compose`."""
    settings = settings_for(config, run_dir.name)
    with ComposeStack(settings, run_dir / "logs") as stack:
        if os.environ.get("LOADLAB_COMPOSE_BUILD", "1") != "0":
            progress.phase("building the images (docker build)")
            stack.build()
        progress.phase("starting PostgreSQL (compose)")
        stack.start_database()
        progress.phase(f"seeding the compose database (scale {config.scale:g})")
        data = seed(stack)
        lab = ComposeLab(config, stack, data)
        if lab.web_url:
            progress.note(f"Locust web UI: {lab.web_url} (each cell's swarm, while it runs)")
        try:
            yield lab
        finally:
            progress.phase(f"removing the compose project {stack.project}")
