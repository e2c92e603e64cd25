"""A soak cell over time: does any component's memory keep growing, do latency and errors
drift?

Memory: resources.csv samples every process of each component twice a second; the USS (the
memory each process alone holds) of a component is summed per sample and a least-squares line
through the measured window gives its growth in MB/hour. RSS is the fallback where USS was not
recorded (older runs, other backends): summed over Postgres' backends it counts the shared
buffers once per backend, so it climbs while the cache warms and is never judged. Only cells of at least `min_judged_s` are flagged: over seconds, a
few MB of allocator noise extrapolate to hundreds of MB/hour.

Latency: each window's figures come from that window's own HDR histogram, merged exactly
across workers (requests belong to the window they completed in), so p99 per window is as
exact as the cell's; Locust's stats history only has rounded ten-second rolling percentiles
that, in the open model, leave out the wait before a late send.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from labcontract.measurement import Measurement
from labcontract.resources import Resource
from loadlab.core.config import Soak
from loadlab.core.results import CellResult, RssTrend, SoakResult, SoakWindow
from loadlab.measurement import latency

COMPONENTS = ("app", "postgres", "locust-master", "locust-worker")
MB = 1024 * 1024
HOUR = 3600.0


def slope(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Least-squares slope of ys over xs; None with fewer than two distinct xs."""
    n = len(xs)
    if n < 2:
        return None
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    var = sum((x - mean_x) ** 2 for x in xs)
    if var == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / var


def rss_series(
    path: Path, start: float, stop: float
) -> dict[str, tuple[str, list[tuple[float, int]]]]:
    """Per component: the memory measure used ("uss", or "rss" when some sample lacks USS) and
    (time, that measure summed over its processes) for each sample in [start, stop]."""
    totals: dict[str, dict[str, dict[float, int]]] = defaultdict(
        lambda: {"uss": defaultdict(int), "rss": defaultdict(int)}
    )
    complete: dict[str, bool] = defaultdict(lambda: True)
    if path.exists():
        with path.open() as handle:
            for row in csv.DictReader(handle):
                when = float(row[Resource.TIME])
                component = row[Resource.COMPONENT]
                if component not in COMPONENTS or not start <= when <= stop:
                    continue
                totals[component]["rss"][when] += int(row[Resource.RSS_BYTES])
                uss = row.get(Resource.USS_BYTES) or ""
                if uss:
                    totals[component]["uss"][when] += int(uss)
                else:
                    complete[component] = False
    return {
        component: (basis, sorted(by[basis].items()))
        for component, by in totals.items()
        for basis in ["uss" if complete[component] and by["uss"] else "rss"]
    }


def rss_trends(
    series: dict[str, tuple[str, list[tuple[float, int]]]], threshold: float, judged: bool
) -> list[RssTrend]:
    trends = []
    for component in [c for c in COMPONENTS if c in series]:
        basis, points = series[component]
        # summed RSS of Postgres counts shared buffers per backend: not a leak signal
        judgeable = judged and not (component == "postgres" and basis == "rss")
        per_second = slope([t for t, _ in points], [float(r) for _, r in points]) or 0.0
        growth = per_second * HOUR / MB
        trends.append(
            RssTrend(
                component=component,
                start_mb=round(points[0][1] / MB, 1),
                end_mb=round(points[-1][1] / MB, 1),
                max_mb=round(max(r for _, r in points) / MB, 1),
                growth_mb_per_hour=round(growth, 1),
                samples=len(points),
                basis=basis,
                flagged=judgeable and growth > threshold,
            )
        )
    return trends


def windows(measurement: Measurement, measured_s: float) -> list[SoakWindow]:
    """The measured windows; stragglers completing after the stop are in no window."""
    window_s = measurement.window_s
    found = []
    for raw in measurement.windows:
        start = raw.start_s
        length = min(window_s, measured_s - start)
        if length <= 0:
            continue
        requests, errors = raw.requests, raw.errors
        figures = latency.summarize(latency.decode(raw.hdr))
        found.append(
            SoakWindow(
                start_s=round(start, 1),
                duration_s=round(length, 1),
                requests=requests,
                errors=errors,
                error_rate=round(errors / requests, 5) if requests else 0.0,
                throughput_rps=round((requests - errors) / length, 2),
                p50_ms=figures.p50,
                p99_ms=figures.p99,
            )
        )
    return found


def _drift(points: list[SoakWindow], value: str) -> float | None:
    per_second = slope(
        [w.start_s + w.duration_s / 2 for w in points], [float(getattr(w, value)) for w in points]
    )
    return None if per_second is None else round(per_second * HOUR, 5 if "rate" in value else 2)


def soak_cell(cell_dir: Path, cell: CellResult, settings: Soak) -> SoakResult:
    measurement_path = cell_dir / "measurement.json"
    measurement = Measurement.read(measurement_path) if measurement_path.exists() else Measurement()
    start = measurement.measure_from_wall or 0.0
    stop = measurement.stop_wall or float("inf")
    judged = cell.measured_s >= settings.min_judged_s
    trends = rss_trends(
        rss_series(cell_dir / "resources.csv", start, stop),
        settings.rss_growth_mb_per_hour,
        judged,
    )
    per_window = windows(measurement, cell.measured_s)
    flags = [
        f"{cell.spec.cell_id}: {t.component} {t.basis.upper()} grew {t.growth_mb_per_hour:g} MB/hour "
        f"({t.start_mb:g} -> {t.end_mb:g} MB; threshold {settings.rss_growth_mb_per_hour:g})"
        for t in trends
        if t.flagged
    ]
    return SoakResult(
        cell_id=cell.spec.cell_id,
        variant=cell.spec.variant,
        workload=cell.spec.workload,
        load_label=cell.spec.load.label,
        measured_s=cell.measured_s,
        window_s=measurement.window_s or settings.window_s,
        rss_threshold_mb_per_hour=settings.rss_growth_mb_per_hour,
        judged=judged,
        rss=trends,
        windows=per_window,
        p50_drift_ms_per_hour=_drift(per_window, "p50_ms"),
        p99_drift_ms_per_hour=_drift(per_window, "p99_ms"),
        error_rate_drift_per_hour=_drift(per_window, "error_rate"),
        flags=flags,
    )
