"""The regime map: the FastAPI-over-Flask throughput ratio, with its interval, over a grid of
the two conditions that decide it.

Two presets, each one `RunConfig` run by the orchestrator like any other run:

- `wait`: the time a request waits x concurrency. The wait is either server-side inside
  PostgreSQL, holding a pooled connection (`pg-sleep-N`), or on a simulated upstream that
  holds no connection (`io-N`); concurrency is closed-model users.
- `rtt`: the app-to-database round trip (an emulated link, `network.db_rtt_ms`) x the
  queries each request sends (`queries-N`), at one concurrency.

`results/<map-id>/` holds `plan.json` (what was planned), `runs/<run-id>/` (ordinary run
folders) and `map.json` (a `RegimeMap`: the grid, every point's ratio per Flask variant with
its flags, the runs used, and the topology and CPU counts they ran on). The report
(`loadlab.report.map_report`) reads `map.json` only.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loadlab.core.config import RunConfig, describe_errors
from loadlab.core.errors import LabError
from loadlab.core.profiles import workload_family
from loadlab.core.regime import (
    FLASK_VARIANTS,
    NUMERATOR,
    VARIANTS,
    Axis,
    Family,
    MapPoint,
    MapRatio,
    MapRun,
    PresetName,
    RegimeMap,
    SizeName,
    read_map,
)
from loadlab.core.results import (
    CellResult,
    Manifest,
    Ratio,
    Summary,
    read_manifest,
    read_summary,
    write_json_atomic,
)
from loadlab.core.verdicts import Verdict

RTT_USERS = 64  # the rtt preset's one concurrency (Manjusaka's retelling: 80 users)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# (config, the folder to put the run under) -> the run's results folder
Executor = Callable[[RunConfig, Path], Path]


class Preset(_Model):
    name: PresetName
    title: str
    description: str
    families: list[Family]
    x: Axis
    y: Axis


PRESETS: dict[str, Preset] = {
    "wait": Preset(
        name="wait",
        title="time waited x concurrency",
        description="Each request waits N ms, in PostgreSQL holding a pooled connection "
        "(pg-sleep-N) or on a simulated upstream holding none (io-N), at 16 to 256 users",
        families=[
            Family(
                name="pg-sleep",
                label="database wait: SELECT pg_sleep(N ms), holding a pooled connection",
            ),
            Family(name="io", label="upstream wait: N ms on a simulated upstream, no connection"),
        ],
        x=Axis(
            name="wait_ms",
            label="time each request waits (ms)",
            unit="ms",
            values=[0, 1, 5, 20, 50],
            log_offset=1.0,
            short="{:g} ms wait",
        ),
        y=Axis(
            name="users",
            label="concurrency (closed-model users)",
            values=[16, 64, 256],
            short="{:g} users",
        ),
    ),
    "rtt": Preset(
        name="rtt",
        title="database round trip x queries per request",
        description="N single-row queries per request (queries-N) over an emulated "
        f"app-to-database link of 0 to 5 ms, at {RTT_USERS} users",
        families=[
            Family(name="queries", label=f"N sequential single-row queries, {RTT_USERS} users")
        ],
        x=Axis(
            name="db_rtt_ms",
            label="database round trip (ms)",
            unit="ms",
            values=[0, 0.5, 1, 2, 5],
            log_offset=0.5,
            short="{:g} ms RTT",
        ),
        y=Axis(
            name="queries",
            label="queries per request",
            values=[1, 5, 20],
            short="{:g}-query requests",
        ),
    ),
}


class MapSize(_Model):
    description: str
    x_count: int | None = Field(default=None, ge=1, description="keep this many x values")
    y_count: int | None = Field(default=None, ge=1, description="keep this many y values")
    families: int | None = Field(default=None, ge=1, description="keep this many panels")
    scale: float
    duration_s: float
    warmup_s: float
    repeats: int
    verify: bool


SIZES: dict[str, MapSize] = {
    "tiny": MapSize(
        description="CI: two x values, one y value, the first panel, 2 s cells, one repeat, "
        "a sliver of data; proves the pipeline, not the ratios",
        x_count=2,
        y_count=1,
        families=1,
        scale=0.002,
        duration_s=1.5,
        warmup_s=0.5,
        repeats=1,
        verify=False,
    ),
    "small": MapSize(
        description="a laptop, tens of minutes: three x values, the lowest and highest y, "
        "two repeats, 5 % of the data",
        x_count=3,
        y_count=2,
        scale=0.05,
        duration_s=5,
        warmup_s=2,
        repeats=2,
        verify=True,
    ),
    "medium": MapSize(
        description="the grid as written on the full data set, three repeats of 3 s cells "
        "(the standard preset's cell length): 50 minutes for the wait preset and 24 for "
        "rtt on a 2-core machine",
        scale=1.0,
        duration_s=3,
        warmup_s=1,
        repeats=3,
        verify=True,
    ),
    "full": MapSize(
        description="the grid as written, three repeats of 10 s cells on the full data set",
        scale=1.0,
        duration_s=10,
        warmup_s=3,
        repeats=3,
        verify=True,
    ),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise LabError(
            f"unknown map preset {name!r}; known presets: {', '.join(PRESETS)}",
            hint="wait (time waited x concurrency) or rtt (database round trip x queries)",
        )
    return PRESETS[name]


def get_size(name: str) -> MapSize:
    if name not in SIZES:
        raise LabError(
            f"unknown map size {name!r}; known sizes: {', '.join(SIZES)}",
            hint="tiny (CI, about two minutes), small (a laptop), medium (the whole grid, 3 s "
            "cells, under an hour) or full (the grid as written, 10 s cells)",
        )
    return SIZES[name]


# ---------------------------------------------------------------- planning


class MapPlan(_Model):
    """What `loadlab map` runs: the chosen grid and the run configurations that measure it."""

    preset: PresetName
    size: SizeName
    families: list[Family]
    x: Axis
    y: Axis
    configs: list[RunConfig]

    @property
    def cells(self) -> int:
        total = 0
        for cfg in self.configs:
            rtts = len(cfg.network.db_rtt_ms) if cfg.network else 1
            total += len(cfg.variants) * len(cfg.workloads) * len(cfg.loads) * rtts * cfg.repeats
        return total


def _workload(family: str, value: float) -> str:
    return f"{family}-{value:g}"


def _config_data(preset: Preset, families: list[Family], x: Axis, y: Axis) -> dict[str, Any]:
    if preset.name == "wait":
        return {
            "workloads": [_workload(f.name, v) for f in families for v in x.values],
            "loads": [{"model": "closed", "users": int(u)} for u in y.values],
        }
    return {
        "workloads": [_workload(f.name, int(q)) for f in families for q in y.values],
        "loads": [{"model": "closed", "users": RTT_USERS}],
        "network": {"db_rtt_ms": list(x.values)},
    }


def _pass_through(data: dict[str, Any], key: str, value: Any, flag: str) -> None:
    """Set a RunConfig field that a newer loadlab has (profiles, precision mode)."""
    if value is None:
        return
    if key not in RunConfig.model_fields:
        raise LabError(
            f"{flag} is not available: this loadlab's run configuration has no `{key}` setting",
            hint=f"leave out {flag} (the map then uses the size's repeats)",
        )
    data[key] = value


def plan_map(
    preset: str,
    size: str = "small",
    *,
    backend: str = "local",
    inventory: str | None = None,
    profile: str | None = None,
    precision: float | None = None,
    budget_s: float | None = None,
    repeats: int | None = None,
) -> MapPlan:
    """The grid of `preset` at `size`, as run configurations (validated, nothing started)."""
    chosen, sized = get_preset(preset), get_size(size)
    if profile == "both":
        raise LabError(
            "a map is drawn from one profile; --profile both would mix two",
            hint="run `loadlab map --profile stock` and `loadlab map --profile tuned`",
        )
    if chosen.name == "rtt" and backend != "local":
        raise LabError(
            f"the rtt map needs an emulated database round trip, which the {backend} backend "
            "cannot set up (only the local backend puts PostgreSQL behind an emulated link)",
            hint="run `loadlab map --preset rtt --backend local` as root, or map the wait "
            f"preset on {backend}",
        )
    families = chosen.families[: sized.families] if sized.families else list(chosen.families)
    x, y = chosen.x.pick(sized.x_count), chosen.y.pick(sized.y_count)
    data: dict[str, Any] = {
        "backend": backend,
        "variants": list(VARIANTS),
        "repeats": repeats or sized.repeats,
        "duration_s": sized.duration_s,
        "warmup_s": sized.warmup_s,
        "scale": sized.scale,
        "verify": sized.verify,
        **_config_data(chosen, families, x, y),
    }
    if inventory is not None:
        data["inventory"] = inventory
    _pass_through(data, "profile", profile, "--profile")
    _pass_through(data, "precision", precision, "--precision")
    _pass_through(data, "budget_s", budget_s, "--budget")
    try:
        config = RunConfig.model_validate(data)
    except ValidationError as exc:
        source = f"the {preset} map at size {size}"
        raise LabError(describe_errors(exc, source), hint="see `loadlab map --help`") from None
    return MapPlan(preset=chosen.name, size=size, families=families, x=x, y=y, configs=[config])  # type: ignore[arg-type]


# ---------------------------------------------------------------- reading runs into points

_PARAMETER = re.compile(r"^(?P<family>[a-z][a-z0-9-]*?)-(?P<value>[0-9]+(?:\.[0-9]+)?)$")
_CLOSED_USERS = re.compile(r"^closed-(?P<users>\d+)u")


def _split_workload(name: str) -> tuple[str, float] | None:
    match = _PARAMETER.match(name)
    return (match["family"], float(match["value"])) if match else None


def _users(summary: Summary, load_label: str) -> float | None:
    for agg in summary.aggregates:
        if agg.load_label == load_label and agg.load.model == "closed":
            return float(agg.load.users)
    match = _CLOSED_USERS.match(load_label)
    return float(match["users"]) if match else None


def locate(preset: PresetName, ratio: Ratio, summary: Summary) -> tuple[str, float, float] | None:
    """(family, x, y) of a ratio on the preset's grid, or None when it is not a map ratio."""
    parsed = _split_workload(ratio.workload)
    if parsed is None:
        return None
    family, value = parsed
    if preset == "wait":
        users = _users(summary, ratio.load_label)
        return None if users is None else (family, value, users)
    if ratio.db_rtt_ms is None:
        return None
    return family, float(ratio.db_rtt_ms), value


def _on(values: Sequence[float], value: float) -> bool:
    return any(math.isclose(v, value) for v in values)


def _cells_of(summary: Summary, ratio: Ratio) -> list[CellResult]:
    return [
        c
        for c in summary.cells
        if c.spec.phase == "matrix"
        and c.spec.workload == ratio.workload
        and c.spec.load.label == ratio.load_label
        and c.spec.db_rtt_ms == ratio.db_rtt_ms
        and c.spec.variant in (ratio.numerator, ratio.denominator)
    ]


def _throughput(summary: Summary, ratio: Ratio, variant: str) -> float | None:
    for agg in summary.aggregates:
        if (agg.variant, agg.workload, agg.load_label, agg.db_rtt_ms) == (
            variant,
            ratio.workload,
            ratio.load_label,
            ratio.db_rtt_ms,
        ):
            return agg.throughput_rps.median
    return None


def map_ratio(summary: Summary, ratio: Ratio) -> MapRatio:
    e = ratio.estimate
    has_ci = e.n > 1 or e.ci_low != e.ci_high
    machine = sorted(
        {
            w.message
            for c in _cells_of(summary, ratio)
            for w in c.validity.warnings
            if w.code is Verdict.MACHINE_SATURATED
        }
    )
    # map.json keeps the words for its tooltips; the marks below are decided by code
    reasons = [f.text for f in ratio.flag_reasons] + machine
    return MapRatio(
        flask_variant=ratio.denominator,
        numerator=ratio.numerator,
        median=e.median,
        ci_low=e.ci_low,
        ci_high=e.ci_high,
        n=e.n,
        has_ci=has_ci,
        touches_parity=has_ci and e.ci_low <= 1.0 <= e.ci_high,
        flagged=ratio.flagged,
        loadgen_saturated=any(f.code.loadgen_saturated for f in ratio.flag_reasons),
        machine_saturated=bool(machine),
        reasons=reasons,
        method=str(getattr(ratio, "method", "") or ""),
        fastapi_rps=_throughput(summary, ratio, ratio.numerator),
        flask_rps=_throughput(summary, ratio, ratio.denominator),
    )


def extract_points(
    preset: PresetName,
    families: Sequence[str],
    xs: Sequence[float],
    ys: Sequence[float],
    summary: Summary,
) -> list[MapPoint]:
    """The grid points one run measured: fastapi-async over each Flask variant, throughput
    basis, on the grid's families and values (any other ratio of the run is left out)."""
    points: dict[tuple[str, float, float], MapPoint] = {}
    for ratio in summary.ratios:
        if (
            ratio.numerator != NUMERATOR
            or ratio.denominator not in FLASK_VARIANTS
            or ratio.basis != "throughput"
        ):
            continue
        where = locate(preset, ratio, summary)
        if where is None:
            continue
        family, x, y = where
        if family not in families or not _on(xs, x) or not _on(ys, y):
            continue
        point = points.setdefault(
            where,
            MapPoint(
                family=family,
                x=x,
                y=y,
                workload=ratio.workload,
                load_label=ratio.load_label,
                db_rtt_ms=ratio.db_rtt_ms,
                run_id=summary.run_id,
                ratios={},
            ),
        )
        point.ratios[ratio.denominator] = map_ratio(summary, ratio)
    order = list(families)
    return sorted(points.values(), key=lambda p: (order.index(p.family), p.y, p.x))


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


def map_run(run_dir: Path, manifest: Manifest, summary: Summary, map_dir: Path) -> MapRun:
    machine, config = manifest.machine, manifest.config
    rtts = sorted({c.spec.db_rtt_ms for c in summary.cells if c.spec.db_rtt_ms is not None})
    count = machine.get("cpu_count_logical") or machine.get("cpu_count")
    physical = machine.get("cpu_count_physical")
    return MapRun(
        run_id=manifest.run_id,
        path=_relative(run_dir, map_dir),
        backend=manifest.backend,
        host=str(machine.get("hostname") or ""),
        started=manifest.started,
        finished=manifest.finished,
        complete=summary.complete,
        profile=str(config.get("profile") or "stock"),
        repeats=config.get("repeats"),
        workloads=[str(w) for w in config.get("workloads", [])],
        db_rtt_ms=rtts,
        topology=manifest.topology,
        cpu_count=int(count) if count else None,
        cpu_count_physical=int(physical) if physical else None,
        cpu_model=str(machine.get("cpu_model") or ""),
        cpusets=manifest.cpusets,
        caveats=list(summary.caveats),
    )


def assemble(
    plan: MapPlan, map_id: str, run_dirs: Sequence[Path], map_dir: Path, command: str = ""
) -> RegimeMap:
    """The map from finished (or interrupted) runs: every grid point they measured."""
    preset = PRESETS[plan.preset]
    family_names = [f.name for f in plan.families]
    points: list[MapPoint] = []
    runs: list[MapRun] = []
    summaries: list[Summary] = []
    for run_dir in run_dirs:
        manifest, summary = read_manifest(run_dir), read_summary(run_dir)
        summaries.append(summary)
        runs.append(map_run(run_dir, manifest, summary, map_dir))
        for point in extract_points(
            plan.preset, family_names, plan.x.values, plan.y.values, summary
        ):
            if (found := _find(points, point)) is None:
                points.append(point)
            else:  # a later run of the same point (a resumed map): its ratios win
                found.ratios.update(point.ratios)
    first = runs[0] if runs else None
    caveats = list(dict.fromkeys(c for r in runs for c in r.caveats))
    profiles = panel_profiles(family_names, summaries)
    caveats += profile_caveats(profiles, first.profile if first else "stock")
    missing = [
        f"{f}-{x:g} at {y:g}"
        for f in family_names
        for y in plan.y.values
        for x in plan.x.values
        if not any(p.family == f and math.isclose(p.x, x) and math.isclose(p.y, y) for p in points)
    ]
    if missing:
        caveats.append(f"{len(missing)} grid point(s) were not measured: {', '.join(missing[:8])}")
    return RegimeMap(
        map_id=map_id,
        preset=plan.preset,
        title=preset.title,
        description=preset.description,
        size=plan.size,
        created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        backend=plan.configs[0].backend if plan.configs else "local",
        profile=first.profile if first else "stock",
        families=plan.families,
        x=plan.x,
        y=plan.y,
        points=points,
        runs=runs,
        topology=first.topology if first else {},
        cpu_count=first.cpu_count if first else None,
        cpu_count_physical=first.cpu_count_physical if first else None,
        cpu_model=first.cpu_model if first else "",
        caveats=caveats,
        command=command,
        panel_profiles=profiles,
    )


def panel_profiles(
    families: Sequence[str], summaries: Sequence[Summary]
) -> dict[str, dict[str, list[str]]]:
    """Panel -> variant -> the distinct profiles its cells ran under."""
    found: dict[str, dict[str, set[str]]] = {}
    for summary in summaries:
        for cell in summary.cells:
            family = workload_family(cell.spec.workload)
            if family in families:
                by_variant = found.setdefault(family, {})
                by_variant.setdefault(cell.spec.variant, set()).add(cell.spec.profile)
    return {
        family: {variant: sorted(labels) for variant, labels in sorted(by_variant.items())}
        for family, by_variant in found.items()
    }


def profile_caveats(profiles: dict[str, dict[str, list[str]]], profile: str) -> list[str]:
    """Where a map asked for `profile` and a panel's cells ran another one, say so."""
    out = []
    for family, by_variant in profiles.items():
        other = {v: labels for v, labels in by_variant.items() if labels != [profile]}
        if not other:
            continue
        if len(other) == len(by_variant) and len({tuple(x) for x in other.values()}) == 1:
            labels = ", ".join(next(iter(other.values())))
            out.append(
                f"panel {family}: every variant ran {labels}, not the {profile} profile, "
                "so this panel compares them as shipped"
            )
        else:
            listed = "; ".join(f"{v}: {', '.join(labels)}" for v, labels in other.items())
            out.append(f"panel {family}: not every variant ran the {profile} profile ({listed})")
    return out


def _find(points: list[MapPoint], point: MapPoint) -> MapPoint | None:
    return next(
        (
            p
            for p in points
            if p.family == point.family
            and math.isclose(p.x, point.x)
            and math.isclose(p.y, point.y)
        ),
        None,
    )


# ---------------------------------------------------------------- running


def new_map_id(preset: str) -> str:
    from loadlab.core.results import new_run_id

    return f"map-{preset}-{new_run_id()}"


def default_executor(config: RunConfig, root: Path) -> Path:
    if config.backend == "ansible":
        from loadlab.deployments.ansible import run_ansible

        return Path(run_ansible(config, root))
    from loadlab.orchestration.runner import execute

    return execute(config, root)


def run_map(
    plan: MapPlan,
    results_root: Path | None = None,
    executor: Executor | None = None,
    command: str = "",
) -> Path:
    """Run the plan's configurations into `results/<map-id>/runs/` and write `map.json`;
    returns the map folder."""
    from loadlab.core.paths import results_root as default_root
    from loadlab.core.paths import usable_results_root

    if any(cfg.network is not None for cfg in plan.configs):
        from loadlab.deployments.netem import require_privileges

        require_privileges()  # before a folder exists for a map that cannot start
    root = usable_results_root(Path(results_root or default_root()))
    map_id = new_map_id(plan.preset)
    map_dir = root / map_id
    map_dir.mkdir(parents=True)
    write_json_atomic(map_dir / "plan.json", plan)
    run = executor or default_executor
    run_dirs = [run(cfg, map_dir / "runs") for cfg in plan.configs]
    regime = assemble(plan, map_id, run_dirs, map_dir, command)
    write_json_atomic(map_dir / "map.json", regime)
    return map_dir


def refresh_map(map_dir: Path) -> RegimeMap:
    """Rebuild `map.json` from the map's plan and whatever runs finished under `runs/` (an
    interrupted map, or runs summarised again); a map folder without them is read as it is."""
    map_dir = Path(map_dir)
    plan_path = map_dir / "plan.json"
    runs = sorted(
        p for p in (map_dir / "runs").glob("*") if p.is_dir() and (p / "summary.json").is_file()
    )
    if not plan_path.is_file() or not runs:
        return read_map(map_dir)
    plan = MapPlan.model_validate_json(plan_path.read_text())
    previous = read_map(map_dir) if (map_dir / "map.json").is_file() else None
    regime = assemble(plan, map_dir.name, runs, map_dir, previous.command if previous else "")
    write_json_atomic(map_dir / "map.json", regime)
    return regime
