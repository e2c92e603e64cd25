"""A cell's Locust swarm on compose: the one SwarmSpec (loadlab.deployments.swarm_spec)
rendered as service overrides for the locust-master and locust-worker services, scaled to
the cell's workers, and its files and logs copied into the cell afterwards.

docker-compose.yml keeps its own Locust command lines for plain `docker compose up`; a lab
run replaces them with the spec's, written beside the cell's results (compose.cell.yml)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labcontract.env import SwarmEnv
from labcontract.measurement import Measurement
from loadlab.core.errors import LabError
from loadlab.core.results import write_json_atomic
from loadlab.deployments.compose.commands import uninterruptible
from loadlab.deployments.compose.containers import ContainerInfo
from loadlab.deployments.compose.engine import ENGINE_ERRORS
from loadlab.deployments.compose.settings import MASTER_SERVICE, OUT_DIR, WORKER_SERVICE
from loadlab.deployments.compose.stack import ComposeStack
from loadlab.deployments.processes import tail
from loadlab.deployments.swarm_run import wait_for_master
from loadlab.deployments.swarm_spec import SwarmSpec

OVERRIDE_FILE = "compose.cell.yml"
SERVICES = (MASTER_SERVICE, WORKER_SERVICE)


def service_overrides(spec: SwarmSpec) -> dict[str, Any]:
    """The spec as a compose override file's content (JSON is YAML: compose reads it)."""
    return {
        "services": {
            MASTER_SERVICE: {"command": spec.master_command(), "environment": spec.environment},
            WORKER_SERVICE: {"command": spec.worker_command(), "environment": spec.environment},
        }
    }


class ComposeSwarm:
    """`with ComposeSwarm(...) as swarm: swarm.wait()`: the master and `spec.workers` scaled
    workers are up inside the block and removed (their logs saved into the cell) after it."""

    def __init__(self, stack: ComposeStack, spec: SwarmSpec, cell_dir: Path) -> None:
        self.stack = stack
        self.spec = spec
        self.cell_dir = cell_dir
        self.override = cell_dir / OVERRIDE_FILE
        self.master: ContainerInfo | None = None

    @property
    def total_s(self) -> float:
        return self.spec.total_s

    def __enter__(self) -> ComposeSwarm:
        write_json_atomic(self.override, service_overrides(self.spec))
        try:
            self.stack.compose(
                "up", "-d", "--no-build", "--no-deps", "--force-recreate",
                "--scale", f"{WORKER_SERVICE}={self.spec.workers}", *SERVICES,
                files=[self.override], timeout=300,
            )  # fmt: skip
            self.master = self.stack.one(MASTER_SERVICE)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._remove()

    def workers(self) -> list[ContainerInfo]:
        return sorted(self.stack.containers(WORKER_SERVICE), key=lambda c: c.number)

    def wait(
        self,
        tick: Callable[[float], None] | None = None,
        stop_early: Callable[[], bool] | None = None,
    ) -> Measurement:
        """Wait for the master to finish; returns its measurement.json. When
        `stop_early` says so, the master is asked to end the test now (SIGTERM: Locust stops
        its workers and still writes what it measured)."""
        assert self.master is not None
        master = self.master

        def running() -> bool:
            nonlocal master
            master = self.stack.inspect(master.id)
            return master.running

        def stop() -> None:
            with contextlib.suppress(*ENGINE_ERRORS):
                self.stack.engine.containers.get(master.id).kill(signal="SIGTERM")

        wait_for_master(
            running=running,
            stop=stop,
            total_s=self.total_s,
            grace_s=120,
            log=self.cell_dir / "locust-master.log",
            tick=tick,
            stop_early=stop_early,
        )
        self.stack.copy_out(master.id, OUT_DIR, self.cell_dir)
        out = self.cell_dir / Path(SwarmEnv.from_env(self.spec.environment).measurement_out).name
        if not out.exists():
            log = self.stack.service_log(master.id)
            raise LabError(
                f"the Locust master exited (code {master.exit_code}) without writing "
                f"{out.name}:\n{tail(log)}",
                hint=f"see {self.cell_dir / 'locust-master.log'}",
            )
        return Measurement.read(out)

    def _remove(self) -> None:
        with uninterruptible():
            self._collect_logs()
            self.stack.compose(
                "rm", "-s", "-f", "-v", *SERVICES, files=[self.override], timeout=120, check=False
            )

    def _collect_logs(self) -> None:
        with contextlib.suppress(LabError, OSError):
            for info in self.stack.containers(MASTER_SERVICE):
                (self.cell_dir / "locust-master.log").write_text(self.stack.service_log(info.id))
            for index, info in enumerate(self.workers()):
                (self.cell_dir / f"locust-worker-{index}.log").write_text(
                    self.stack.service_log(info.id)
                )
