"""The results schema: `manifest.json`, `cell.json` and `summary.json` are dumps of these models.

Every backend writes the same layout (see docs/contracts.md), so one report builder reads
typed data whatever ran the benchmark.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from labcontract.versions import (
    MANIFEST_VERSION,
    SUMMARY_VERSION,
    SchemaVersionError,
    schema_version,
)
from loadlab.core.errors import LabError
from loadlab.core.verdicts import Finding, Flag


def new_run_id() -> str:
    """`20261202-190000-1a2b`: when (UTC) and four random hex digits, so runs sort by time."""
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


LoadModel = Literal["closed", "open"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoadLevel(_Model):
    """One point on the load axis: closed (N users) or open (a target arrival rate)."""

    model: LoadModel = "closed"
    users: int = Field(default=32, ge=1, description="closed: concurrent users; open: connections")
    think_time_ms: float = Field(default=0.0, ge=0)
    rate: float | None = Field(default=None, gt=0, description="open model: requests/s, swarm-wide")

    @property
    def label(self) -> str:
        if self.model == "open":
            return f"open-{self.rate:g}rps"
        think = f"-think{self.think_time_ms:g}ms" if self.think_time_ms else ""
        return f"closed-{self.users}u{think}"

    @property
    def sort_key(self) -> float:
        return float(self.rate if self.model == "open" and self.rate else self.users)


class CellSpec(_Model):
    """What one cell of the matrix runs; written as `cells/<cell_id>/cell.json` before it runs."""

    cell_id: str
    order: int
    variant: str
    workload: str
    load: LoadLevel
    repeat: int
    duration_s: float
    warmup_s: float
    phase: Literal["matrix", "capacity", "tune"] = "matrix"
    db_rtt_ms: float | None = Field(
        default=None, description="emulated app-to-database round trip; None: no emulated link"
    )
    knobs: dict[str, int | str | bool] = Field(
        default_factory=dict, description="the variant's knobs in this cell (empty: stock)"
    )
    profile: str = Field(default="stock", description="stock, tuned or custom")


class Latency(_Model):
    """Milliseconds, from the merged HDR histogram (open model: from each intended send time)."""

    count: int = 0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    p999: float = 0.0
    max: float = 0.0


class ComponentUsage(_Model):
    """CPU in percent of one core (200 = two cores busy), RSS in bytes, over the measured window."""

    cpu_mean_percent: float
    cpu_max_percent: float
    rss_max_bytes: int
    processes: int
    busiest_process_cpu_mean_percent: float = 0.0


class Validity(_Model):
    """`reasons` make a cell invalid; `warnings` are caveats that do not (machine saturation).
    Each is a coded `Finding`; a plain string (results from before codes) is read as one."""

    valid: bool = True
    reasons: list[Finding] = Field(default_factory=list)
    warnings: list[Finding] = Field(default_factory=list)


class CellResult(_Model):
    spec: CellSpec
    requests: int
    errors: int
    error_rate: float
    measured_s: float
    throughput_rps: float
    target_rate: float | None = None
    rate_held: bool | None = None
    latency: Latency
    resources: dict[str, ComponentUsage] = Field(default_factory=dict)
    statements_per_request: float | None = None
    validity: Validity = Field(default_factory=Validity)
    workers_reported: int = 0
    failures: dict[str, int] = Field(default_factory=dict)


class Estimate(_Model):
    """A median across repeats with its bootstrap 95% confidence interval; for a paired ratio
    (`Ratio.method`), `median` is the point estimate: the geometric mean of the per-block
    ratios in `values`, and `n` the blocks paired."""

    median: float
    ci_low: float
    ci_high: float
    n: int
    values: list[float] = Field(default_factory=list)


class Aggregate(_Model):
    """One (variant, workload, load level) across its repeats."""

    variant: str
    workload: str
    load: LoadLevel
    load_label: str
    throughput_rps: Estimate
    p50_ms: Estimate
    p95_ms: Estimate | None = None
    p99_ms: Estimate
    errors: int
    requests: int
    valid: bool
    invalid_reasons: list[Finding] = Field(
        default_factory=list, description="every reason of its invalid cells, once each"
    )
    db_rtt_ms: float | None = None


class Ratio(_Model):
    """numerator / denominator throughput (e.g. fastapi-async over flask-gevent)."""

    workload: str
    load_label: str
    numerator: str
    denominator: str
    basis: Literal["throughput", "capacity"] = "throughput"
    estimate: Estimate
    flagged: bool = False
    flag_reasons: list[Flag] = Field(
        default_factory=list, description="each invalid cell's reasons, with the cell's id"
    )
    db_rtt_ms: float | None = None
    method: str = Field(
        default="independent-bootstrap-medians",
        description="how the interval was computed (loadlab.measurement.stats): paired-t-log, "
        "block-bootstrap, single-measurement; the default names the method of older runs",
    )
    blocks: int = Field(default=0, description="blocks paired (both variants measured)")
    unpaired_cells: int = Field(
        default=0, description="cells left out: their block lacks the other variant"
    )


class RatioPrecision(_Model):
    """One headline ratio against a `--precision` target."""

    workload: str
    load_label: str
    numerator: str
    denominator: str
    db_rtt_ms: float | None = None
    half_width: float | None = Field(
        description="relative 95% half-width, max(hi/r - 1, 1 - lo/r); None: no interval yet"
    )
    reached: bool


class PrecisionReport(_Model):
    """A run that added blocks until its headline ratios were precise enough, or time ran out."""

    target: float = Field(description="relative 95% half-width asked for (0.03 = 3%)")
    budget_s: float | None = None
    min_blocks: int
    max_blocks: int
    blocks_run: int
    elapsed_s: float
    stopped_because: Literal[
        "precision reached", "budget spent", "block limit", "interrupted", "no ratio"
    ]
    ratios: list[RatioPrecision] = Field(default_factory=list)


class CapacityStep(_Model):
    rate: float
    achieved_rps: float
    p99_ms: float
    error_rate: float
    ok: bool
    reason: str = ""
    cell_id: str = ""


class Capacity(_Model):
    """The highest arrival rate a variant sustained within the SLO."""

    variant: str
    workload: str
    slo_p99_ms: float
    max_error_rate: float
    sustained_rps: float
    steps: list[CapacityStep] = Field(default_factory=list)
    limited_by: str = ""
    limit: Finding | None = Field(
        default=None, description="the verdict on the step that ended the search (coded)"
    )


class ExtraStatement(_Model):
    """A statement a request caused beyond the expected ones (asyncpg's pool reset, say)."""

    path: str = Field(description="the request, e.g. /db")
    query: str = Field(description="the statement as pg_stat_statements normalised it")
    calls_per_request: float


class VerificationResult(_Model):
    """`failures` keep a variant out of the benchmark; `warnings` do not (a variant that makes
    more statements per request than expected, or than the others: `extra_statements`)."""

    variant: str
    passed: bool
    checks: dict[str, str] = Field(default_factory=dict)
    failures: list[str] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    extra_statements: list[ExtraStatement] = Field(default_factory=list)


class RssTrend(_Model):
    """One component's resident memory over a soak cell (summed over its processes)."""

    component: str
    start_mb: float
    end_mb: float
    max_mb: float
    growth_mb_per_hour: float = Field(description="slope of a least-squares line through RSS")
    samples: int
    basis: Literal["uss", "rss"] = Field(
        default="rss", description="uss: memory the processes alone hold; rss: resident, shared"
    )
    flagged: bool = False


class SoakWindow(_Model):
    """One window of a soak cell, from that window's own HDR histogram."""

    start_s: float
    duration_s: float
    requests: int
    errors: int
    error_rate: float
    throughput_rps: float
    p50_ms: float
    p99_ms: float


class SoakResult(_Model):
    """A long cell watched over time: memory trends per component, latency drift per window."""

    cell_id: str
    variant: str
    workload: str
    load_label: str
    measured_s: float
    window_s: float
    rss_threshold_mb_per_hour: float
    judged: bool = Field(description="long enough for RSS growth to be flagged")
    rss: list[RssTrend] = Field(default_factory=list)
    windows: list[SoakWindow] = Field(default_factory=list)
    p50_drift_ms_per_hour: float | None = None
    p99_drift_ms_per_hour: float | None = None
    error_rate_drift_per_hour: float | None = None
    flags: list[str] = Field(default_factory=list)


class Summary(_Model):
    schema_version: int = Field(
        default=SUMMARY_VERSION,
        ge=1,
        le=SUMMARY_VERSION,
        description="the format's version (docs/contracts.md); none = 1",
    )
    run_id: str
    backend: str
    preset: str | None = None
    baseline_numerator: str = "fastapi-async"
    cells: list[CellResult] = Field(default_factory=list)
    aggregates: list[Aggregate] = Field(default_factory=list)
    ratios: list[Ratio] = Field(default_factory=list)
    capacity: list[Capacity] = Field(default_factory=list)
    capacity_ratios: list[Ratio] = Field(default_factory=list)
    verification: list[VerificationResult] = Field(default_factory=list)
    skipped_variants: dict[str, str] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)
    complete: bool = True
    soak: list[SoakResult] = Field(default_factory=list)
    noise_floor: list[Ratio] = Field(
        default_factory=list,
        description="A/A ratios: one variant measured as two arms (X#b over X) per workload, "
        "load level and RTT; a difference inside this floor is not called",
    )
    precision: PrecisionReport | None = None


class VariantRecord(_Model):
    """A variant as it was run: its exact command line and sizes."""

    name: str
    framework: str
    server: str
    worker_class: str
    driver: str
    workers: int
    pool_size: int
    command: list[str]
    description: str = ""
    cpuset: str | None = None
    knobs: dict[str, int | str | bool] = Field(
        default_factory=dict, description="every knob's value (loadlab/data/variants.toml)"
    )
    profile: str = Field(default="stock", description="stock, tuned, or custom (knobs given)")


class Manifest(_Model):
    model_config = ConfigDict(extra="allow")

    schema_version: int = Field(
        default=MANIFEST_VERSION,
        ge=1,
        le=MANIFEST_VERSION,
        description="the format's version (docs/contracts.md); none = 1",
    )
    run_id: str
    loadlab_version: str
    git_sha: str | None = None
    git_dirty: bool | None = None
    backend: str
    preset: str | None = None
    started: str
    finished: str | None = None
    command: str = Field(description="the one command that re-runs this matrix")
    config: dict[str, Any] = Field(default_factory=dict)
    machine: dict[str, Any] = Field(default_factory=dict)
    python: str = ""
    packages: dict[str, str] = Field(default_factory=dict)
    postgres: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    variants: dict[str, VariantRecord] = Field(default_factory=dict)
    topology: dict[str, Any] = Field(default_factory=dict)
    order: dict[str, Any] = Field(default_factory=dict)
    cpusets: dict[str, str] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)
    interrupted: bool = False
    precision: PrecisionReport | None = Field(
        default=None, description="--precision: the blocks run and why the run stopped"
    )
    checksums: dict[str, dict[str, str]] | None = Field(
        default=None,
        description="sha256 of each finished cell's data files: cell id -> file name -> digest "
        "(see loadlab.core.integrity). Only these sealed cells count; None: the run predates seals",
    )


def write_json_atomic(path: Path, payload: BaseModel | dict[str, Any] | list[Any]) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a result."""
    text = (
        payload.model_dump_json(indent=2)
        if isinstance(payload, BaseModel)
        else json.dumps(payload, indent=2, sort_keys=True, default=str)
    )
    write_text_atomic(path, text + "\n")


def write_text_atomic(path: Path, text: str) -> None:
    """A temporary file in the same directory, fsynced, then renamed over `path`: a reader
    (or a crash) sees the old file or the whole new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep results from whoever they are shared with
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_versioned(path: Path, current: int) -> dict[str, Any]:
    """A results file's JSON, once its schema_version is one this loadlab reads."""
    raw = json.loads(path.read_text())
    if not isinstance(raw, dict):
        raise LabError(f"{path}: not a JSON object")
    try:
        found = schema_version(raw, path, current)
    except SchemaVersionError as error:
        raise LabError(str(error)) from None
    # what was read says which version it was written as (older formats are read up)
    return {**raw, "schema_version": found}


def read_manifest(run_dir: Path) -> Manifest:
    return Manifest.model_validate(_read_versioned(run_dir / "manifest.json", MANIFEST_VERSION))


def read_summary(run_dir: Path) -> Summary:
    return Summary.model_validate(_read_versioned(run_dir / "summary.json", SUMMARY_VERSION))


def read_cell_spec(cell_dir: Path) -> CellSpec:
    return CellSpec.model_validate_json((cell_dir / "cell.json").read_text())
