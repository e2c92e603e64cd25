"""The LOADLAB_* environment variables shared by the Locust master and its workers."""

from __future__ import annotations

import os
from dataclasses import dataclass


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "")
    return float(raw) if raw.strip() else default


@dataclass(frozen=True)
class LoadSettings:
    workload: str
    users_seeded: int
    arrival_rate: float
    think_ms: float
    warmup_s: float
    duration_s: float
    measurement_out: str

    @property
    def open_model(self) -> bool:
        return self.arrival_rate > 0

    @classmethod
    def from_env(cls) -> LoadSettings:
        return cls(
            workload=os.environ.get("LOADLAB_WORKLOAD", "db-read"),
            users_seeded=int(_float("LOADLAB_USERS_SEEDED", 1_000_000)),
            arrival_rate=_float("LOADLAB_ARRIVAL_RATE", 0.0),
            think_ms=_float("LOADLAB_THINK_MS", 0.0),
            warmup_s=_float("LOADLAB_WARMUP_S", 0.0),
            duration_s=_float("LOADLAB_DURATION_S", 0.0),
            measurement_out=os.environ.get("LOADLAB_MEASUREMENT_OUT", ""),
        )
