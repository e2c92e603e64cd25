"""Faults seen while a cell ran, and the watch that notices them.

The local backend polls its own children while the swarm runs: the app server's master,
every Locust worker and the Postgres postmaster. What it sees goes to
`cells/<id>/faults.json` as it happens (so an interrupted cell keeps it), and analysis turns
each fault into a reason that makes the cell invalid: its figures measured a broken system.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, TypeAdapter

from loadlab.core.results import write_json_atomic
from loadlab.core.verdicts import Finding, Verdict

FAULTS_FILE = "faults.json"
FaultKind = Literal["app process died", "load generator worker lost", "database restarted"]
# every kind is a verdict of its own, so readers tell a dead app from a lost worker by code
VERDICTS: dict[FaultKind, Verdict] = {
    "app process died": Verdict.APP_DIED,
    "load generator worker lost": Verdict.WORKER_LOST,
    "database restarted": Verdict.DATABASE_RESTARTED,
}


class Fault(BaseModel):
    kind: FaultKind
    detail: str
    at_s: float  # seconds since the swarm started

    @property
    def reason(self) -> Finding:
        return Finding.of(VERDICTS[self.kind], detail=self.detail, at_s=self.at_s)


_FAULTS = TypeAdapter(list[Fault])


class Watched(Protocol):
    """Anything the watch can ask whether it still runs: a child process, a container."""

    name: str

    @property
    def pid(self) -> int | None: ...

    def alive(self) -> bool: ...

    def returncode(self) -> int | None: ...


def read_faults(cell_dir: Path) -> list[Fault]:
    path = cell_dir / FAULTS_FILE
    return _FAULTS.validate_json(path.read_text()) if path.exists() else []


def _exit(process: Watched) -> str:
    code = process.returncode()
    return f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"


class CellWatch:
    """Polled from the swarm's wait loop; `stop_cell` says whether measuring on is pointless."""

    def __init__(
        self,
        cell_dir: Path,
        app: Watched | None,
        workers: Callable[[], list[Watched]],
        postmaster: Callable[[], int | None],
    ) -> None:
        self.path = cell_dir / FAULTS_FILE
        self.app = app
        self.workers = workers
        self.postmaster = postmaster
        self.postmaster_at_start = postmaster()
        self.started = time.monotonic()
        self.faults: list[Fault] = []
        self._seen: set[str] = set()

    def _record(self, key: str, kind: FaultKind, detail: str) -> None:
        if key in self._seen:
            return
        self._seen.add(key)
        self.faults.append(Fault(kind=kind, detail=detail, at_s=self.elapsed()))
        write_json_atomic(self.path, [f.model_dump() for f in self.faults])

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 1)

    def poll(self) -> None:
        if self.app is not None and not self.app.alive():
            self._record(
                "app",
                "app process died",
                f"{self.app.name}'s server process (pid {self.app.pid}) {_exit(self.app)} "
                f"{self.elapsed():.0f}s into the cell; the next cell starts it again",
            )
        for worker in self.workers():
            # workers leave with 0 when the master ends the test; anything else is a loss
            if not worker.alive() and worker.returncode() != 0:
                self._record(
                    worker.name,
                    "load generator worker lost",
                    f"{worker.name} (pid {worker.pid}) {_exit(worker)} "
                    f"{self.elapsed():.0f}s into the cell; the other workers carried on",
                )
        pid = self.postmaster()
        if self.postmaster_at_start and pid != self.postmaster_at_start:
            after = f"pid {pid}" if pid else "not running"
            self._record(
                "postgres",
                "database restarted",
                f"the postmaster (pid {self.postmaster_at_start}) went away "
                f"{self.elapsed():.0f}s into the cell (now {after})",
            )

    @property
    def stop_cell(self) -> bool:
        # without its app the rest of the cell would only count refused connections
        return any(f.kind == "app process died" for f in self.faults)
