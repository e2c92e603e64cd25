"""A container as the lab reads it from the engine: what runs, since when, and how it ended."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadlab.deployments.compose.settings import NUMBER_LABEL, SERVICE_LABEL


@dataclass(frozen=True)
class ContainerInfo:
    id: str
    service: str
    number: int  # compose's replica number: locust-worker 1, 2, ...
    pid: int  # the container's first process, in this machine's pid namespace
    status: str
    running: bool
    exit_code: int
    oom_killed: bool
    restart_count: int
    started_at: str
    health: str
    cmd: list[str]
    env: list[str]
    image: str

    @classmethod
    def from_attrs(cls, raw: dict[str, Any]) -> ContainerInfo:
        """From the engine's inspect document (`docker inspect`, the SDK's `attrs`)."""
        config = raw.get("Config") or {}
        labels = config.get("Labels") or {}
        state = raw.get("State") or {}
        return cls(
            id=raw["Id"],
            service=labels.get(SERVICE_LABEL, ""),
            number=int(labels.get(NUMBER_LABEL) or 0),
            pid=int(state.get("Pid") or 0),
            status=state.get("Status", ""),
            running=bool(state.get("Running")),
            exit_code=int(state.get("ExitCode") or 0),
            oom_killed=bool(state.get("OOMKilled")),
            restart_count=int(raw.get("RestartCount") or 0),
            started_at=str(state.get("StartedAt") or ""),
            health=(state.get("Health") or {}).get("Status", ""),
            cmd=list(config.get("Cmd") or []),
            env=list(config.get("Env") or []),
            image=raw.get("Image", ""),
        )

    def same_run(self, other: ContainerInfo) -> bool:
        """Whether `other` (read later) is still this start of the container: not restarted
        by a restart policy or by hand, not stopped."""
        return (
            other.running
            and other.restart_count == self.restart_count
            and other.started_at == self.started_at
        )
