"""Faults on compose, seen the way the local backend sees them (loadlab.measurement.faults):
the watch polls containers instead of child processes. A container that stopped, was
restarted (by a restart policy or by hand: RestartCount, StartedAt) or was OOM-killed is a
dead process; the database's postmaster is the postgres container's first process, and
pg_postmaster_start_time() is compared before and after the cell as well, for a restart the
container's state would not show."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path

from loadlab.core.errors import LabError
from loadlab.deployments.compose.containers import ContainerInfo
from loadlab.deployments.compose.database import postmaster_started
from loadlab.deployments.compose.stack import ComposeStack
from loadlab.measurement.faults import CellWatch, Watched

SIGNALLED = 128  # a container killed by signal N exits with 128 + N (docker-init passes it on)


class WatchedContainer:
    """A container as the watch asks about a process (loadlab.measurement.faults.Watched)."""

    def __init__(self, stack: ComposeStack, name: str, first: ContainerInfo) -> None:
        self.stack = stack
        self.base_name = name
        self.first = first
        self._now: ContainerInfo | None = first
        self._read_at = time.monotonic()

    def _current(self) -> ContainerInfo | None:
        # alive() and returncode() are asked one after the other: one inspect serves both
        if time.monotonic() - self._read_at > 0.1:
            try:
                self._now = self.stack.inspect(self.first.id)
            except LabError:
                self._now = None  # removed
            self._read_at = time.monotonic()
        return self._now

    @property
    def pid(self) -> int | None:
        return self.first.pid or None

    def alive(self) -> bool:
        now = self._current()
        return now is not None and self.first.same_run(now)

    def returncode(self) -> int | None:
        now = self._current()
        if now is None or now.running:
            return None  # removed, or running again after a restart
        if now.exit_code > SIGNALLED:
            return -(now.exit_code - SIGNALLED)  # read as "killed by signal N"
        return now.exit_code

    @property
    def name(self) -> str:
        # the kernel's OOM killer sends SIGKILL: say who sent it
        now = self._now
        return f"{self.base_name} (OOM-killed)" if now and now.oom_killed else self.base_name


class ComposeCellWatch(CellWatch):
    """CellWatch over the cell's containers, plus the postmaster's start time after the cell."""

    def __init__(
        self,
        cell_dir: Path,
        stack: ComposeStack,
        app: ContainerInfo,
        app_name: str,
        workers: Callable[[], list[ContainerInfo]],
        expected_workers: int,
    ) -> None:
        self.stack = stack
        self._workers: dict[str, WatchedContainer] = {}
        self._list_workers = workers
        self.expected_workers = expected_workers
        self.postgres_first = stack.one("postgres")
        self.postmaster_started = postmaster_started(stack.settings.dsn)
        super().__init__(
            cell_dir,
            WatchedContainer(stack, app_name, app),
            self._watched_workers,
            self._postmaster,
        )

    def _watched_workers(self) -> list[Watched]:
        # the swarm's workers are listed until all are known; each is then watched by id
        listed: list[ContainerInfo] = []
        if len(self._workers) < self.expected_workers:
            with contextlib.suppress(LabError):
                listed = self._list_workers()
        for info in listed:
            if info.id not in self._workers:
                self._workers[info.id] = WatchedContainer(
                    self.stack, f"locust-worker-{len(self._workers)}", info
                )
        return list(self._workers.values())

    def _postmaster(self) -> int | None:
        """The postmaster's pid while the postgres container runs its first start."""
        try:
            now = self.stack.inspect(self.postgres_first.id)
        except LabError:
            return None
        return now.pid if now.running else None

    def after_cell(self) -> None:
        """The database's start time compared with the cell's start. (No poll: the swarm's
        containers are removed by now, and a removed container reads as a lost one.)"""
        started = postmaster_started(self.stack.settings.dsn)
        if self.postmaster_started and started != self.postmaster_started:
            self._record(
                "postgres",
                "database restarted",
                f"the postmaster (started {self.postmaster_started}) restarted during the "
                f"cell (now {f'started {started}' if started else 'not answering'})",
            )
