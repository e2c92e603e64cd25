"""The run configuration: a pydantic model, named presets, files (TOML or YAML) and overrides.

The CLI flags mirror the file's keys one to one, so a file and a command line say the same.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from loadlab.errors import LabError
from loadlab.registry import variant_names
from loadlab.results import LoadLevel

PRESETS_DIR = Path(__file__).parent / "presets"
Backend = Literal["local", "compose", "ansible"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CapacitySearch(_Strict):
    """Step the open-model arrival rate until p99 breaks the SLO or errors pass the limit."""

    enabled: bool = False
    workloads: list[str] = Field(default_factory=lambda: ["db-read"])
    start_rate: float = Field(default=100.0, gt=0)
    growth: float = Field(default=1.5, gt=1.0, description="each step multiplies the rate by this")
    max_rate: float = Field(default=50_000.0, gt=0)
    max_steps: int = Field(default=12, ge=1)
    slo_p99_ms: float = Field(default=100.0, gt=0)
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    users: int = Field(default=128, ge=1, description="connections the open model may use")
    duration_s: float = Field(default=10.0, gt=0)
    warmup_s: float = Field(default=3.0, ge=0)


class CpuSets(_Strict):
    """CPU lists (as taskset takes them, e.g. "0" or "2-3") for each component."""

    app: str
    db: str
    load: str

    @staticmethod
    def parse(spec: str) -> set[int]:
        cpus: set[int] = set()
        for part in spec.split(","):
            if "-" in part:
                low, high = part.split("-", 1)
                cpus.update(range(int(low), int(high) + 1))
            elif part.strip():
                cpus.add(int(part))
        return cpus


class Validity(_Strict):
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    loadgen_cpu_percent: float = Field(default=90.0, gt=0, description="of one core, per process")
    rate_tolerance: float = Field(default=0.05, ge=0, lt=1)
    machine_cpu_percent: float = Field(default=95.0, gt=0, description="of all cores")


class RunConfig(_Strict):
    preset: str | None = None
    backend: Backend = "local"
    variants: list[str] = Field(default_factory=variant_names)
    workloads: list[str] = Field(default_factory=lambda: ["json", "db-read"])
    loads: list[LoadLevel] = Field(default_factory=lambda: [LoadLevel(model="closed", users=64)])
    repeats: int = Field(default=1, ge=1)
    duration_s: float = Field(default=10.0, gt=0)
    warmup_s: float = Field(default=3.0, ge=0)
    locust_workers: int = Field(default=2, ge=1)
    scale: float = Field(default=1.0, gt=0, le=10)
    data_seed: int = 20240601
    order_seed: int | None = None
    app_workers: int | None = Field(
        default=None, ge=1, description="default: CPUs given to the app"
    )
    pool_size: int = Field(default=10, ge=1)
    verify: bool = True
    cpusets: CpuSets | None = None
    capacity: CapacitySearch = Field(default_factory=CapacitySearch)
    validity: Validity = Field(default_factory=Validity)
    inventory: str | None = Field(default=None, description="ansible backend: the inventory")

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, value: list[str]) -> list[str]:
        known = variant_names()
        unknown = [v for v in value if v not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if not value:
            raise ValueError("at least one variant is needed")
        return list(dict.fromkeys(value))

    @field_validator("workloads")
    @classmethod
    def _known_workloads(cls, value: list[str]) -> list[str]:
        from loadtests.workloads import workload_names

        known = workload_names()
        unknown = [w for w in value if w not in known]
        if unknown:
            raise ValueError(f"unknown workload(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if not value:
            raise ValueError("at least one workload is needed")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        for load in self.loads:
            if load.model == "open" and not load.rate:
                raise ValueError("an open-model load level needs a rate (requests/s)")
        from loadtests.workloads import workload_names

        unknown = [w for w in self.capacity.workloads if w not in workload_names()]
        if unknown:
            raise ValueError(f"capacity.workloads: unknown workload(s) {', '.join(unknown)}")
        return self


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if path.suffix in {".yaml", ".yml"}:
            data = yaml.safe_load(text) or {}
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        raise LabError(
            f"config file {path} is not valid {path.suffix.lstrip('.') or 'TOML'}: {exc}",
            hint="fix the syntax; `loadlab config show --preset quick` prints a valid example",
        ) from None
    if not isinstance(data, dict):
        raise LabError(
            f"config file {path} must hold a table of settings, not {type(data).__name__}"
        )
    return data


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def describe_errors(error: ValidationError, source: str) -> str:
    lines = [f"{source} is not a valid run configuration:"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown key (not a setting loadlab knows)"
        lines.append(f"  - {where}: {message}")
    return "\n".join(lines)


def load_config(
    preset: str | None = "quick",
    path: Path | None = None,
    overrides: dict[str, Any] | None = None,
) -> RunConfig:
    """preset < file < overrides; every layer validated together, errors named by key."""
    data: dict[str, Any] = {}
    source = "the command line"
    if preset:
        preset_path = PRESETS_DIR / f"{preset}.toml"
        if not preset_path.exists():
            raise LabError(
                f"unknown preset {preset!r}",
                hint=f"choose one of: {', '.join(preset_names())}",
            )
        data = _read(preset_path)
        data["preset"] = preset
    if path is not None:
        data = _merge(data, _read(path))
        source = f"config file {path}"
    if overrides:
        data = _merge(data, {k: v for k, v in overrides.items() if v is not None})
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        raise LabError(describe_errors(exc, source), hint="see `loadlab run --help`") from None
