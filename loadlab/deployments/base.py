"""The interface the runner drives: a database, variants to serve, and swarms to run."""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from loadlab.core.progress import Progress
from loadlab.core.results import CellSpec, VariantRecord


class Served(Protocol):
    """A running variant."""

    url: str

    def record(self) -> VariantRecord: ...


class Lab(Protocol):
    """What the runner needs from a backend once the database is up and seeded."""

    data: dict[str, Any]
    postgres: dict[str, Any]
    topology: dict[str, Any]
    caveats: list[str]

    @property
    def dsn(self) -> str: ...  # for checks from the orchestrator's side

    @property
    def admin_dsn(self) -> str: ...  # superuser: pg_stat_statements

    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> AbstractContextManager[Served]:
        """Start `variant` with these knobs (partial: the rest stock; see registry.py)."""
        ...

    def run_cell(self, spec: CellSpec, served: Served, cell_dir: Path, progress: Progress) -> None:
        """Drive one cell; leave measurement.json, resources.csv and Locust's CSVs in cell_dir."""
        ...
