"""A cell's swarm while it runs, the same on every backend that drives the Locust processes
itself (local and compose): wait for the master to stop itself (asking it to stop early when
the fault watch says measuring on is pointless), with the samplers running, and the
pg_stat_statements delta of the cell afterwards."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from loadlab.core.errors import LabError
from loadlab.core.progress import Progress
from loadlab.core.results import write_json_atomic
from loadlab.measurement import pgstats
from loadlab.measurement.faults import CellWatch

POLL_S = 0.25


def wait_for_master(
    *,
    running: Callable[[], bool],
    stop: Callable[[], None],
    total_s: float,
    grace_s: float,
    log: Path,
    tick: Callable[[float], None] | None = None,
    stop_early: Callable[[], bool] | None = None,
) -> None:
    """Until `running()` is false. `stop()` asks the master to end the test now (Locust stops
    its workers and still writes what it measured); past `total_s + grace_s` it is an error."""
    started = time.monotonic()
    deadline = started + total_s + grace_s
    stopping = False
    while running():
        if not stopping and stop_early is not None and stop_early():
            stopping = True
            stop()
        if time.monotonic() > deadline:
            raise LabError(
                f"the Locust master did not finish within {total_s + grace_s:.0f}s",
                hint=f"see {log}",
            )
        if tick:
            tick(min(time.monotonic() - started, total_s))
        time.sleep(POLL_S)


class Waitable(Protocol):
    total_s: float

    def wait(
        self,
        tick: Callable[[float], None] | None = None,
        stop_early: Callable[[], bool] | None = None,
    ) -> Any: ...


def watched_cell(
    swarm: Waitable,
    running: Sequence[AbstractContextManager[Any]],
    watch: CellWatch,
    progress: Progress,
    *,
    stop_early: Callable[[], bool],
    admin_dsn: str,
    cell_dir: Path,
) -> None:
    """Run the swarm inside `running` (the samplers, then the swarm's own processes), then
    write the cell's pg_stat_statements delta. A swarm that fails because of a fault the
    watch saw is the cell's finding; one that fails on its own stops the run."""
    before = pgstats.snapshot(admin_dsn)
    with contextlib.ExitStack() as stack:
        for context in running:
            stack.enter_context(context)
        try:
            swarm.wait(lambda e: progress.cell_tick(e, swarm.total_s), stop_early=stop_early)
        except LabError:
            if not watch.faults:
                raise
        watch.poll()
    write_json_atomic(
        cell_dir / "pg_stat_statements.json", pgstats.delta(before, pgstats.snapshot(admin_dsn))
    )
