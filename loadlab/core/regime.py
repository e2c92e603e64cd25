"""`map.json`: the regime map a run of `loadlab map` leaves, as the report reads it.

Written by `loadlab.orchestration.regime_map`; read by `loadlab.report.map_report`."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadlab.core.errors import LabError

SCHEMA_VERSION = 1
NUMERATOR = "fastapi-async"
FLASK_VARIANTS = ("flask-gevent", "flask-sync")
VARIANTS = (NUMERATOR, *FLASK_VARIANTS)
PresetName = Literal["wait", "rtt"]
SizeName = Literal["tiny", "small", "medium", "full"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- presets and sizes


class Family(_Model):
    """One panel of a preset: a parameterised workload family (`pg-sleep`, `io`, `queries`)."""

    name: str
    label: str


class Axis(_Model):
    name: str = Field(description="wait_ms, users, db_rtt_ms or queries")
    label: str
    unit: str = ""
    values: list[float]
    log_offset: float = Field(
        default=0.0,
        ge=0,
        description="charts place a value at log10(value + log_offset), so 0 has a place",
    )
    short: str = Field(default="{:g}", description="one value in a few words, e.g. '{:g} users'")

    def describe(self, value: float) -> str:
        return self.short.format(value)

    def position(self, value: float) -> float:
        return math.log10(value + self.log_offset)

    def pick(self, count: int | None) -> Axis:
        """`count` values spread over the axis: the first, and with two or more the last."""
        values = self.values
        if count is not None and count < len(values):
            if count == 1:
                values = values[:1]
            else:
                step = (len(values) - 1) / (count - 1)
                values = [values[round(i * step)] for i in range(count)]
        return self.model_copy(update={"values": list(values)})


# ---------------------------------------------------------------- map.json


class MapRatio(_Model):
    """fastapi-async's throughput over one Flask variant's at one grid point."""

    flask_variant: str
    numerator: str = NUMERATOR
    median: float
    ci_low: float
    ci_high: float
    n: int = Field(description="repeats (or pairs) the estimate rests on")
    has_ci: bool = Field(description="False with one repeat: the interval is a point")
    touches_parity: bool = Field(description="the interval holds 1x: no difference shown")
    flagged: bool = Field(description="an invalid cell went into it (see reasons)")
    loadgen_saturated: bool = False
    machine_saturated: bool = Field(
        default=False, description="a cell's whole machine was CPU-bound (a warning, not invalid)"
    )
    reasons: list[str] = Field(default_factory=list)
    method: str = Field(default="", description="how the interval was computed (Ratio.method)")
    fastapi_rps: float | None = None
    flask_rps: float | None = None

    def marked(self, machine_counts: bool = True) -> bool:
        """Shown as a mark rather than a colour: invalid, or measured on a saturated machine."""
        return self.flagged or self.loadgen_saturated or (machine_counts and self.machine_saturated)


class MapPoint(_Model):
    family: str
    x: float
    y: float
    workload: str
    load_label: str
    db_rtt_ms: float | None = None
    run_id: str
    ratios: dict[str, MapRatio] = Field(description="Flask variant -> the ratio over it")


class MapRun(_Model):
    run_id: str
    path: str = Field(description="the run folder, relative to the map folder where possible")
    backend: str
    host: str = ""
    started: str = ""
    finished: str | None = None
    complete: bool = True
    profile: str = "stock"
    repeats: int | None = None
    workloads: list[str] = Field(default_factory=list)
    db_rtt_ms: list[float] = Field(default_factory=list)
    topology: dict[str, Any] = Field(default_factory=dict)
    cpu_count: int | None = None
    cpu_count_physical: int | None = None
    cpu_model: str = ""
    cpusets: dict[str, str] = Field(default_factory=dict)
    caveats: list[str] = Field(default_factory=list)


class RegimeMap(_Model):
    """`results/<map-id>/map.json`."""

    schema_version: int = SCHEMA_VERSION
    map_id: str
    preset: PresetName
    title: str
    description: str
    size: str
    created: str
    backend: str
    profile: str = "stock"
    numerator: str = NUMERATOR
    flask_variants: list[str] = Field(default_factory=lambda: list(FLASK_VARIANTS))
    families: list[Family]
    x: Axis
    y: Axis
    points: list[MapPoint] = Field(default_factory=list)
    runs: list[MapRun] = Field(default_factory=list)
    topology: dict[str, Any] = Field(default_factory=dict, description="of the first run")
    cpu_count: int | None = None
    cpu_count_physical: int | None = None
    cpu_model: str = ""
    caveats: list[str] = Field(default_factory=list)
    command: str = ""
    panel_profiles: dict[str, dict[str, list[str]]] = Field(
        default_factory=dict,
        description="panel -> variant -> the profiles its cells ran (a tuned map falls back "
        "to stock where the profile has no entry)",
    )

    def point(self, family: str, x: float, y: float) -> MapPoint | None:
        return next(
            (
                p
                for p in self.points
                if p.family == family and math.isclose(p.x, x) and math.isclose(p.y, y)
            ),
            None,
        )

    def grid(
        self, family: str, flask_variant: str, machine_counts: bool = True
    ) -> tuple[list[float], list[float], list[list[float]], list[list[bool]]]:
        """xs, ys, medians[y][x] (NaN: not measured) and marked[y][x] for one panel."""
        xs, ys = list(self.x.values), list(self.y.values)
        medians = [[math.nan] * len(xs) for _ in ys]
        marked = [[False] * len(xs) for _ in ys]
        for j, yv in enumerate(ys):
            for i, xv in enumerate(xs):
                point = self.point(family, xv, yv)
                ratio = point.ratios.get(flask_variant) if point else None
                if ratio is not None and 0 < ratio.median < math.inf:
                    medians[j][i] = ratio.median
                    marked[j][i] = ratio.marked(machine_counts)
        return xs, ys, medians, marked


def read_map(map_dir: Path) -> RegimeMap:
    path = Path(map_dir) / "map.json"
    if not path.is_file():
        raise LabError(
            f"{path} is missing",
            hint="pass a folder `loadlab map` wrote (results/map-...), or rebuild it with "
            "`loadlab map --from results/map-...` when its runs are there",
        )
    try:
        return RegimeMap.model_validate_json(path.read_text())
    except ValidationError as exc:
        raise LabError(
            f"{path} does not match the map schema: {exc.errors()[0]['msg']}",
            hint="rebuild it with `loadlab map --from` and the installed loadlab",
        ) from None
