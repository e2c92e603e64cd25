"""What this machine remembers of a cloud lab between commands: its plan (so a second `up`
reuses the run id and changes nothing), how far it got, and the playbooks' logs.

The cloud itself is the truth: `loadlab cloud down` finds a lab by its tags, so losing this
state never leaves a machine running unnoticed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field

from loadlab.core.paths import lab_home
from loadlab.deployments.cloud.plan import CloudPlan

Phase = Literal[
    "provisioning", "provisioned", "converged", "benched", "destroying", "destroyed", "kept"
]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def state_dir(cloud: str, region: str, lab: str) -> Path:
    return lab_home() / "cloud" / f"{cloud}-{region}-{lab}"


class CloudState(BaseModel):
    plan: CloudPlan
    phase: Phase
    history: list[str] = Field(default_factory=list, description="'<time> <phase>' lines")
    results: str | None = None
    report: str | None = None

    @property
    def dir(self) -> Path:
        return state_dir(self.plan.cloud, self.plan.region, self.plan.lab)

    @property
    def live(self) -> bool:
        """Might the cloud hold something of this lab?"""
        return self.phase != "destroyed"

    def log_dir(self) -> Path:
        return self.dir / "logs" / self.plan.run_id

    def advance(self, phase: Phase) -> CloudState:
        self.phase = phase
        self.history.append(f"{_now()} {phase}")
        self.save()
        return self

    def save(self) -> None:
        from loadlab.core.results import write_json_atomic

        self.dir.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.dir / "state.json", self)


def load_state(cloud: str, region: str, lab: str) -> CloudState | None:
    path = state_dir(cloud, region, lab) / "state.json"
    try:
        return CloudState.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
