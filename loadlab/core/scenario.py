"""Scenarios: named, versioned run configurations that reproduce a published regime.

A scenario file (`loadlab/scenarios/NAME.toml`) says which published claims it tests
(ids in `loadlab/data/claims.toml`) and embeds a run configuration under `[run]`. A size
(`tiny`, `small`, `medium`, `full`) shrinks it to fit the machine; command-line flags override both:
scenario < size < flags, validated together as a `RunConfig`.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from loadlab.core.config import RunConfig, _merge, describe_errors
from loadlab.core.errors import LabError
from loadlab.core.paths import PACKAGE_DIR
from loadlab.core.results import LoadLevel

SCENARIOS_DIR = PACKAGE_DIR / "scenarios"
SizeName = Literal["tiny", "small", "medium", "full"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Scenario(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    version: int = Field(ge=1, description="bumped whenever the run it describes changes")
    description: str = Field(min_length=1, max_length=200, description="one line")
    claims: list[str] = Field(min_length=1, description="ids in loadlab/data/claims.toml")
    conditions: str = Field(default="", description="how the published setup is mirrored")
    run: RunConfig

    @model_validator(mode="after")
    def _claims_measurable(self) -> Scenario:
        from loadlab.core.claims import load_claims

        if "\n" in self.description.strip():
            raise ValueError("description must be one line (put detail in `conditions`)")
        known = {c.id: c for c in load_claims()}
        unknown = [c for c in self.claims if c not in known]
        if unknown:
            raise ValueError(
                f"unknown claim(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        for claim in (known[c] for c in self.claims):
            if not set(claim.workloads) & set(self.run.workloads):
                raise ValueError(
                    f"claim {claim.id} is measured on {' / '.join(claim.workloads)}, "
                    "none of which run.workloads runs"
                )
            missing = {claim.flask_variant, claim.fastapi_variant} - set(self.run.variants)
            if missing:
                raise ValueError(
                    f"claim {claim.id} compares {claim.fastapi_variant} with "
                    f"{claim.flask_variant}; run.variants lacks {', '.join(sorted(missing))}"
                )
        return self

    @property
    def label(self) -> str:
        return f"{self.name}@{self.version}"

    def claimed_workloads(self) -> list[str]:
        """The workloads its claims are read from, in run order."""
        from loadlab.core.claims import load_claims

        wanted = {w for c in load_claims() if c.id in self.claims for w in c.workloads}
        return [w for w in self.run.workloads if w in wanted]


class Size(_Strict):
    """How much of a scenario to run. Unset fields keep the scenario's own values."""

    description: str
    scale: float | None = None
    duration_s: float | None = None
    warmup_s: float | None = None
    repeats: int | None = None
    levels: int | None = Field(default=None, ge=1, description="keep this many load levels")
    max_users: int | None = Field(default=None, ge=1)
    max_rate: float | None = Field(default=None, gt=0)
    verify: bool | None = None
    claimed_only: bool = Field(default=False, description="only the workloads claims read")
    capacity: bool | None = None

    def apply(self, scenario: Scenario, data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        for key in ("scale", "duration_s", "warmup_s", "repeats", "verify"):
            if (value := getattr(self, key)) is not None:
                data[key] = value
        if self.capacity is not None:
            data["capacity"] = {**data.get("capacity", {}), "enabled": self.capacity}
        if self.claimed_only:
            data["workloads"] = scenario.claimed_workloads() or scenario.run.workloads[:1]
        loads = [self._cap(level) for level in pick_levels(scenario.run.loads, self.levels)]
        data["loads"] = [json.loads(level) for level in dict.fromkeys(loads)]
        return data

    def _cap(self, level: LoadLevel) -> str:
        capped = level.model_copy()
        if self.max_users:
            capped.users = min(capped.users, self.max_users)
        if self.max_rate and capped.rate:
            capped.rate = min(capped.rate, self.max_rate)
        return capped.model_dump_json()


SIZES: dict[str, Size] = {
    "tiny": Size(
        description="CI: seconds per scenario on a sliver of data; proves the pipeline, "
        "not the ratios",
        scale=0.002,
        duration_s=1.5,
        warmup_s=0.5,
        repeats=1,
        levels=1,
        max_users=8,
        max_rate=40,
        verify=False,
        claimed_only=True,
        capacity=False,
    ),
    "small": Size(
        description="a laptop, tens of minutes: the claims' workloads at the lowest and "
        "highest load, two repeats, 5 % of the data",
        scale=0.05,
        duration_s=5,
        warmup_s=2,
        repeats=2,
        levels=2,
        claimed_only=True,
        capacity=False,
    ),
    "medium": Size(
        description="the published scale: the claims' workloads at the lowest and highest "
        "load on the full data set (1,000,000 users), three repeats of 5 s cells; about "
        "40 minutes for all claims on a 2-core machine",
        scale=1.0,
        duration_s=5,
        warmup_s=2,
        repeats=3,
        levels=2,
        claimed_only=True,
        capacity=False,
    ),
    "full": Size(description="the scenario as written (hours for the larger ones)"),
}


def pick_levels(loads: list[LoadLevel], count: int | None) -> list[LoadLevel]:
    """`count` levels spread over the list, always the first (lightest) and, with two or
    more, the last (where the ratios usually diverge most)."""
    if count is None or count >= len(loads):
        return list(loads)
    if count == 1:
        return loads[:1]
    step = (len(loads) - 1) / (count - 1)
    return [loads[round(i * step)] for i in range(count)]


def scenario_names(directory: Path = SCENARIOS_DIR) -> list[str]:
    return sorted(p.stem for p in directory.glob("*.toml"))


def parse_scenario(text: str, source: str, expected_name: str | None = None) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"{source} is not valid TOML: {exc}") from None
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        detail = describe_errors(exc, source).splitlines()[1:]
        raise LabError("\n".join([f"{source} is not a valid scenario:", *detail])) from None
    if expected_name is not None and scenario.name != expected_name:
        raise LabError(f"{source}: name {scenario.name!r} differs from the file name")
    return scenario


def load_scenario(name: str, directory: Path = SCENARIOS_DIR) -> Scenario:
    path = directory / f"{name}.toml"
    known = scenario_names(directory)
    if name not in known:
        raise LabError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(known)}",
            hint="`loadlab scenarios` describes each",
        )
    return parse_scenario(path.read_text(), f"scenario file {path}", expected_name=name)


def load_scenarios(directory: Path = SCENARIOS_DIR) -> list[Scenario]:
    return [load_scenario(p.stem, directory) for p in sorted(directory.glob("*.toml"))]


def get_size(size: str) -> Size:
    if size not in SIZES:
        raise LabError(f"unknown size {size!r}; known sizes: {', '.join(SIZES)}")
    return SIZES[size]


def scenario_config(
    name: str,
    size: str = "full",
    overrides: dict[str, Any] | None = None,
    directory: Path = SCENARIOS_DIR,
) -> RunConfig:
    """The run configuration of a scenario at a size, with command-line overrides on top."""
    scenario = load_scenario(name, directory)
    data = scenario.run.model_dump(mode="json", exclude_unset=True)
    data = get_size(size).apply(scenario, data)
    data = _merge(data, {k: v for k, v in (overrides or {}).items() if v is not None})
    data["scenario"] = scenario.label
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        source = f"scenario {name} at size {size} with the command-line overrides"
        raise LabError(describe_errors(exc, source), hint="see `loadlab run --help`") from None


def claims_plan(
    size: str, names: list[str] | None = None, directory: Path = SCENARIOS_DIR
) -> list[tuple[Scenario, RunConfig]]:
    """The scenarios `loadlab claims` runs, ordered so the data is reseeded least often."""
    chosen = names or scenario_names(directory)
    plan = [
        (load_scenario(n, directory), scenario_config(n, size, directory=directory)) for n in chosen
    ]
    return sorted(plan, key=lambda item: (item[1].scale, chosen.index(item[0].name)))
