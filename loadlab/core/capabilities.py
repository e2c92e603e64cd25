"""What each backend can do, declared once. Validating a run's configuration refuses one that
needs something its backend lacks, naming both, instead of the backend dropping it silently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    db_rtt: bool  # an emulated database link (--db-rtt)
    web: bool  # the Locust master's web UI (--web)
    soak_windows: bool  # per-window latency histograms (--preset soak)
    cpusets: bool  # cores pinned per component
    forced_locust_workers: bool  # --locust-workers N (else the backend's own sizing)
    verify: bool  # the pre-measurement verification, from this machine


BACKENDS: dict[str, Capabilities] = {
    "local": Capabilities(
        db_rtt=True, web=True, soak_windows=True, cpusets=True, forced_locust_workers=True,
        verify=True,
    ),
    "compose": Capabilities(
        db_rtt=False, web=True, soak_windows=True, cpusets=True, forced_locust_workers=True,
        verify=True,
    ),
    # the nodes' sizes come from the inventory; the database is not reachable from here
    "ansible": Capabilities(
        db_rtt=False, web=True, soak_windows=True, cpusets=False, forced_locust_workers=False,
        verify=False,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Need:
    capability: str
    what: str  # as the user asked for it
    asked: Callable[[Any], bool]
    instead: str = ""  # what to do on that backend instead


NEEDS = [
    Need("db_rtt", "an emulated database link (--db-rtt / network.db_rtt_ms)",
         lambda c: c.network is not None),
    Need("web", "the Locust web UI (--web)", lambda c: c.web),
    Need("soak_windows", "soak windows (--preset soak / soak.enabled)", lambda c: c.soak.enabled),
    Need("cpusets", "pinned cores (cpusets)", lambda c: c.cpusets is not None,
         "the nodes are the isolation"),
    Need("forced_locust_workers", "a forced Locust worker count (--locust-workers N)",
         lambda c: c.locust_workers != "auto",
         "set loadlab_locust_workers_per_host in the inventory"),
]  # fmt: skip


def supporting(capability: str) -> list[str]:
    return [name for name, caps in BACKENDS.items() if getattr(caps, capability)]


def unsupported(config: Any) -> str | None:
    """Why `config` cannot run on its backend, or None."""
    caps = BACKENDS[config.backend]
    for need in NEEDS:
        if need.asked(config) and not getattr(caps, need.capability):
            where = " or ".join(supporting(need.capability)) or "no"
            instead = f"; {need.instead}" if need.instead else ""
            return (
                f"the {config.backend} backend does not support {need.what}: use the {where} "
                f"backend{instead}"
            )
    return None
