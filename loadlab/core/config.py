"""The run configuration: a pydantic model, named presets, files (TOML or YAML) and overrides.

The CLI flags mirror the file's keys one to one, so a file and a command line say the same.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from labcontract.dataset import DEFAULT_SEED
from loadlab.core.errors import LabError
from loadlab.core.paths import PACKAGE_DIR
from loadlab.core.registry import variant_names
from loadlab.core.results import LoadLevel

PRESETS_DIR = PACKAGE_DIR / "presets"
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
    refine_steps: int = Field(
        default=3, ge=0, description="bisections between the last rate held and the first broken"
    )
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


_RTT_UNITS = {"": 1.0, "ms": 1.0, "us": 0.001, "µs": 0.001, "s": 1000.0}
_RTT_VALUE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|us|µs|s)?\s*$", re.I)
_TC_RATE = re.compile(r"^\d+(\.\d+)?([kmgt]i?)?(bit|bps)$", re.I)


class NetworkEmulation(_Strict):
    """An emulated link between the app servers and PostgreSQL (local backend, needs root).

    `db_rtt_ms` lists the round trips to run the matrix at: one value, or several for a sweep
    (the RTT is then one more axis of the matrix)."""

    db_rtt_ms: list[float] = Field(min_length=1, description="round trips in ms, e.g. [0, 1, 2]")
    jitter_ms: float = Field(default=0.0, ge=0, description="spread of the round trip (± ms)")
    rate: str = Field(default="", description='tc rate per direction, e.g. "1gbit"; "" = none')

    @field_validator("db_rtt_ms", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        if isinstance(value, str):
            return cls.parse_rtts(value)
        return [value] if isinstance(value, int | float) else value

    @field_validator("db_rtt_ms")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(v < 0 or v != v or v == float("inf") for v in value):
            raise ValueError("round trips must be finite and not negative")
        return list(dict.fromkeys(value))

    @field_validator("rate")
    @classmethod
    def _tc_rate(cls, value: str) -> str:
        if value and not _TC_RATE.match(value.strip()):
            raise ValueError(f"{value!r} is not a tc rate (examples: 100mbit, 1gbit, 10mbps)")
        return value.strip()

    @staticmethod
    def parse_rtts(text: str) -> list[float]:
        """ "0,0.5ms,1ms,2" -> [0.0, 0.5, 1.0, 2.0]; a plain number means milliseconds."""
        values = []
        for part in text.split(","):
            if not part.strip():
                continue
            match = _RTT_VALUE.match(part)
            if not match:
                raise ValueError(
                    f"{part.strip()!r} is not a round trip (examples: 1ms, 0.5ms, 500us, 2)"
                )
            values.append(float(match[1]) * _RTT_UNITS[(match[2] or "").lower()])
        if not values:
            raise ValueError("no round trip given (example: --db-rtt 1ms or --db-rtt 0,1,2)")
        return values


class Validity(_Strict):
    max_error_rate: float = Field(default=0.01, ge=0, le=1)
    loadgen_cpu_percent: float = Field(default=90.0, gt=0, description="of one core, per process")
    rate_tolerance: float = Field(default=0.05, ge=0, lt=1)
    machine_cpu_percent: float = Field(default=95.0, gt=0, description="of all cores")


class Soak(_Strict):
    """Long cells watched over time: RSS growth per component, latency and errors per window."""

    enabled: bool = False
    window_s: float = Field(default=60.0, gt=0, description="latency/error window length")
    rss_growth_mb_per_hour: float = Field(
        default=50.0, gt=0, description="flag a component whose RSS trend grows faster"
    )
    min_judged_s: float = Field(
        default=600.0, ge=0, description="shorter cells get a trend but no RSS flag"
    )


class Budget(_Strict):
    """What every variant gets alike when it is tuned or run: the same CPUs (the app's CPU
    set) and the same ceiling on database connections; one keep-alive for all."""

    db_connections: int = Field(
        default=64, ge=1, description="ceiling on a variant's connections: workers × pool size"
    )
    keepalive_s: int = Field(
        default=5, ge=1, description="the keep-alive every tuned variant gets (a fairness rule)"
    )


Profile = Literal["stock", "tuned", "both"]


class RunConfig(_Strict):
    preset: str | None = None
    scenario: str | None = Field(default=None, description="the scenario run, as NAME@VERSION")
    backend: Backend = "local"
    variants: list[str] = Field(default_factory=variant_names)
    workloads: list[str] = Field(default_factory=lambda: ["json", "db-read"])
    loads: list[LoadLevel] = Field(default_factory=lambda: [LoadLevel(model="closed", users=64)])
    repeats: int = Field(default=1, ge=1)
    duration_s: float = Field(default=10.0, gt=0)
    warmup_s: float = Field(default=3.0, ge=0)
    locust_workers: int | Literal["auto"] = Field(
        default="auto",
        description='"auto": one Locust worker, one more whenever a worker passes '
        "validity.loadgen_cpu_percent (up to the load generator's cores); a number forces it",
    )
    web: bool = Field(
        default=False,
        description="the Locust master serves its web UI on loopback (watch the run live); "
        "the run starts and ends by itself as usual",
    )
    scale: float = Field(default=1.0, gt=0, le=10)
    data_seed: int = DEFAULT_SEED
    order_seed: int | None = None
    app_workers: int | None = Field(
        default=None, ge=1, description="default: CPUs given to the app"
    )
    pool_size: int | None = Field(
        default=None, ge=1, description="connections per app process (the pool_size knob)"
    )
    profile: Profile = Field(
        default="stock",
        description="stock: what the docs give a user; tuned: each variant's best found by "
        "`loadlab tune` (loadlab/data/tuned.toml); both: a stock run, then a tuned one, "
        "reported side by side",
    )
    knobs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='knob overrides per variant, or "*" for every variant that has the knob',
    )
    budget: Budget = Field(default_factory=Budget)
    verify: bool = True
    cpusets: CpuSets | None = None
    capacity: CapacitySearch = Field(default_factory=CapacitySearch)
    validity: Validity = Field(default_factory=Validity)
    soak: Soak = Field(default_factory=Soak)
    inventory: str | None = Field(default=None, description="ansible backend: the inventory")
    network: NetworkEmulation | None = Field(
        default=None, description="local backend: put PostgreSQL behind an emulated link"
    )
    # Statistics (README "Statistics"; loadlab/measurement/stats.py, loadlab/measurement/precision.py)
    calibrate: str | None = Field(
        default=None,
        description="A/A: measure this variant as two arms (X and X#b) in every block; "
        "summary.json's noise_floor is their ratio",
    )
    interval: Literal["paired-t-log", "block-bootstrap"] = Field(
        default="paired-t-log", description="how ratio intervals are computed from the blocks"
    )
    precision: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="add blocks until every headline ratio's 95% half-width is below this "
        "(0.03 = 3%), at least 3 blocks; instead of a fixed repeat count",
    )
    budget_s: float | None = Field(
        default=None, gt=0, description="with precision: wall-clock seconds the matrix may take"
    )

    @field_validator("calibrate")
    @classmethod
    def _known_arm(cls, value: str | None) -> str | None:
        """X or X#b for a registry variant X; stored as X (the arm is always X#b)."""
        if not value:
            return None
        from loadlab.core.registry import base_variant

        base, _, suffix = value.partition("#")
        if suffix not in ("", "b") or base_variant(value) not in variant_names():
            raise ValueError(
                f"calibrate: {value!r} is not a variant or its A/A arm (X or X#b); "
                f"known variants: {', '.join(variant_names())}"
            )
        return base

    @field_validator("locust_workers", mode="before")
    @classmethod
    def _workers(cls, value: Any) -> Any:
        text = str(value).strip().lower()
        if text == "auto":
            return "auto"
        if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
            raise ValueError(f'{value!r} is neither "auto" nor a number of workers (1 or more)')
        return int(text)

    @field_validator("variants")
    @classmethod
    def _known_variants(cls, value: list[str]) -> list[str]:
        from loadlab.core.registry import base_variant

        known = variant_names()
        # "X#label" is an arm: registry variant X once more, with knobs of its own
        unknown = [v for v in value if base_variant(v) not in known]
        if unknown:
            raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(known)}")
        if not value:
            raise ValueError("at least one variant is needed")
        return list(dict.fromkeys(value))

    @field_validator("workloads")
    @classmethod
    def _known_workloads(cls, value: list[str]) -> list[str]:
        from loadtests.workloads import workloads_problem

        if problem := workloads_problem(value):
            raise ValueError(problem)
        if not value:
            raise ValueError("at least one workload is needed")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _consistent(self) -> RunConfig:
        for load in self.loads:
            if load.model == "open" and not load.rate:
                raise ValueError("an open-model load level needs a rate (requests/s)")
        from loadtests.workloads import is_workload

        unknown = [w for w in self.capacity.workloads if not is_workload(w)]
        if unknown:
            raise ValueError(f"capacity.workloads: unknown workload(s) {', '.join(unknown)}")
        if self.network and self.backend != "local":
            raise ValueError("network emulation (db_rtt_ms) is only available on the local backend")
        self._check_knobs()
        if self.precision is not None and self.backend == "ansible":
            raise ValueError("precision: the ansible playbook runs a fixed plan; use --repeats")
        if self.budget_s is not None and self.precision is None:
            raise ValueError("budget_s is the time a --precision run may take; give precision too")
        if self.calibrate and self.calibrate not in self.variants:
            self.variants = [*self.variants, self.calibrate]  # the A arm is the variant itself
        return self

    def _check_knobs(self) -> None:
        """Every override names a known variant (or "*") and a knob it has, in range."""
        from loadlab.core.registry import KnobError, base_variant, get_variant, load_registry

        registry = load_registry()
        for target, values in self.knobs.items():
            if target != "*" and base_variant(target) not in registry:
                raise ValueError(
                    f'knobs.{target}: unknown variant; known: {", ".join(registry)} (or "*")'
                )
            for knob, value in values.items():
                owners = (
                    [base_variant(target)]
                    if target != "*"
                    else [n for n in registry if knob in registry[n].knobs]
                )
                if not owners:
                    known = sorted({k for v in registry.values() for k in v.knobs})
                    raise ValueError(
                        f"knobs.*: unknown knob {knob!r}; known knobs: {', '.join(known)}"
                    )
                for owner in owners:
                    try:
                        get_variant(owner).settings({knob: value}, cpus=1)
                    except KnobError as error:
                        raise ValueError(str(error)) from None


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def _read(path: Path) -> dict[str, Any]:
    example = f"{PRESETS_DIR / 'quick.toml'} is a valid example"
    try:
        text = path.read_text()
    except OSError as exc:
        raise LabError(
            f"cannot read config file {path}: {exc.strerror}",
            hint=f"check the path (TOML, YAML or JSON); {example}",
        ) from None
    except UnicodeDecodeError:
        raise LabError(
            f"config file {path} is not text (not UTF-8)", hint=f"save it as UTF-8; {example}"
        ) from None
    kind = {".yaml": "YAML", ".yml": "YAML", ".json": "JSON"}.get(path.suffix, "TOML")
    try:
        if kind == "YAML":
            data = yaml.safe_load(text) or {}
        elif kind == "JSON":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as exc:
        raise LabError(
            f"config file {path} is not valid {kind}: {_syntax_error(exc)}",
            hint=f"fix the syntax there; {example}",
        ) from None
    if not isinstance(data, dict):
        raise LabError(
            f"config file {path} must hold a table of settings, not {type(data).__name__}",
            hint=f"write `key = value` settings at the top level; {example}",
        )
    return data


def _syntax_error(exc: Exception) -> str:
    """One line: what the parser objected to and where (PyYAML's own text spans lines)."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


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
