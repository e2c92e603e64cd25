"""How long work reports progress, without the work knowing how it is displayed."""

from __future__ import annotations

from typing import Protocol

from loadlab.core.results import CellResult, CellSpec


class Progress(Protocol):
    def phase(self, text: str) -> None: ...
    def note(self, text: str) -> None: ...  # a line that stays (phases are replaced)
    def seed(self, table: str, done: int, total: int) -> None: ...
    def cell_started(self, spec: CellSpec, index: int, total: int) -> None: ...
    def cell_tick(self, elapsed: float, total: float) -> None: ...
    def cell_finished(self, result: CellResult | None) -> None: ...


class Silent:
    def phase(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass

    def seed(self, table: str, done: int, total: int) -> None:
        pass

    def cell_started(self, spec: CellSpec, index: int, total: int) -> None:
        pass

    def cell_tick(self, elapsed: float, total: float) -> None:
        pass

    def cell_finished(self, result: CellResult | None) -> None:
        pass
