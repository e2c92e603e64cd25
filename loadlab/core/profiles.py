"""Which knobs a cell runs with: the stock profile, the tuned one, and the run's own overrides.

The tuned profile is `loadlab/data/tuned.toml`, written by `loadlab tune`: per variant and
workload the winning knobs, with the machine they were found on. A workload the tuner did
not see falls back to its family (`io-5` -> `io`), then to the variant's `*` entry, then to
stock; the cell records the profile actually used.
"""

from __future__ import annotations

import os
import re
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from loadlab.core.config import RunConfig
from loadlab.core.errors import LabError
from loadlab.core.paths import PACKAGE_DIR
from loadlab.core.registry import KnobError, Knobs, base_variant, get_variant

TUNED_PATH = PACKAGE_DIR / "data" / "tuned.toml"


def tuned_path() -> Path:
    """The tuned profile in use: the repository's, or LOADLAB_TUNED_PROFILE's file."""
    return Path(os.environ.get("LOADLAB_TUNED_PROFILE") or TUNED_PATH)


_FAMILY = re.compile(r"^(?P<family>[a-z][a-z-]*?)-\d+(\.\d+)?$")


def workload_family(workload: str) -> str:
    """A parameterised workload's family (`io-5` -> `io`); any other workload is its own."""
    return match["family"] if (match := _FAMILY.match(workload)) else workload


class TunedEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    knobs: Knobs
    throughput_rps: float | None = None
    p99_ms: float | None = None
    stock_throughput_rps: float | None = None
    cells: int | None = None
    seconds: float | None = None
    tune_run: str | None = None
    confirmed_ratio: float | None = None
    confirmed: bool | None = None


class TunedProfile(BaseModel):
    """The file's schema: where it was found, and variant -> workload -> entry."""

    model_config = ConfigDict(extra="forbid")

    schema_version: int = 1
    found: str = ""
    machine: dict[str, Any] = Field(default_factory=dict)
    budget: dict[str, Any] = Field(default_factory=dict)
    users: int | None = None
    variants: dict[str, dict[str, TunedEntry]] = Field(default_factory=dict)

    def entry(self, variant: str, workload: str) -> TunedEntry | None:
        by_workload = self.variants.get(variant, {})
        for key in (workload, workload_family(workload), "*"):
            if key in by_workload:
                return by_workload[key]
        return None


def load_tuned(path: Path | None = None) -> TunedProfile:
    return _load_tuned(path or tuned_path())


def reload_tuned() -> None:
    """Read the file again on next use (after `loadlab tune --write` changed it)."""
    _load_tuned.cache_clear()


@cache
def _load_tuned(path: Path) -> TunedProfile:
    if not path.exists():
        return TunedProfile()
    try:
        return TunedProfile.model_validate(tomllib.loads(path.read_text()))
    except (tomllib.TOMLDecodeError, ValueError) as error:
        raise LabError(
            f"the tuned profile {path} is not valid: {' '.join(str(error).split())[:300]}",
            hint="rerun `loadlab tune` to write it again, or `git checkout` the file",
        ) from None


def knobs_for(config: RunConfig, variant: str, workload: str) -> tuple[Knobs, str]:
    """The knob overrides (partial: the rest stay stock) for one variant in one workload,
    and the profile they make: "stock", "tuned", or "custom" when the run set knobs itself."""
    spec = get_variant(base_variant(variant))
    knobs: dict[str, Any] = {}
    profile = "stock"
    if config.profile == "tuned":
        entry = load_tuned().entry(base_variant(variant), workload)
        if entry is not None:
            knobs.update(entry.knobs)
            profile = "tuned"
        else:
            profile = "stock (no tuned entry)"
    legacy = {"workers": config.app_workers, "pool_size": config.pool_size}
    own = {k: v for k, v in legacy.items() if v is not None and k in spec.knobs}
    own.update({k: v for k, v in config.knobs.get("*", {}).items() if k in spec.knobs})
    own.update(config.knobs.get(variant, {}))
    if own:
        knobs.update(own)
        profile = "custom" if profile.startswith("stock") else f"{profile}+custom"
    try:
        spec.settings(knobs, cpus=1)
    except KnobError as error:
        raise LabError(
            str(error), hint=f"fix the value in {tuned_path()} or in the run's knobs"
        ) from None
    return knobs, profile


def over_budget(variant: str, knobs: Knobs, cpus: int, db_connections: int) -> str | None:
    """Why these knobs break the connection budget, or None."""
    full = get_variant(base_variant(variant)).settings(knobs, cpus=cpus)
    if "pool_size" not in full:
        return None
    total = int(full.get("workers", cpus)) * int(full["pool_size"])
    if total > db_connections:
        return (
            f"{variant}: {full.get('workers', cpus)} workers × pool {full['pool_size']} = {total} "
            f"database connections, over the budget of {db_connections}"
        )
    return None
