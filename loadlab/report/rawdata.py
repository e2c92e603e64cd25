"""The per-cell raw files a report draws from: `resources.csv` and `latency.hdr`."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from statistics import median

from hdrh.histogram import HdrHistogram

from labcontract.measurement import Measurement
from labcontract.resources import Resource

MAX_POINTS = 240


@dataclass
class CpuSeries:
    """CPU of one component (percent of one core, summed over its processes) against time."""

    component: str
    seconds: list[float]
    cpu_percent: list[float]
    t0: float = 0.0  # wall-clock time of the cell's first sample, where `seconds` starts


def read_resources(path: Path, max_points: int = MAX_POINTS) -> list[CpuSeries]:
    """`resources.csv` (labcontract.resources) -> one summed CPU series per component.

    Samples of different processes are taken at slightly different instants, so they are
    put in buckets one sampling interval wide before summing. Long cells are averaged down
    to at most `max_points` points so the chart stays small.
    """
    if not path.is_file():
        return []
    rows: list[tuple[float, str, str, float]] = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            try:
                rows.append(
                    (
                        float(row[Resource.TIME]),
                        row[Resource.COMPONENT],
                        row.get(Resource.PID, ""),
                        float(row[Resource.CPU_PERCENT] or 0),
                    )
                )
            except (KeyError, TypeError, ValueError):
                continue
    if not rows:
        return []
    t0 = min(r[0] for r in rows)
    per_pid: dict[tuple[str, str], list[float]] = defaultdict(list)
    for t, component, pid, _ in rows:
        per_pid[(component, pid)].append(t)
    gaps = []
    for times in per_pid.values():
        ordered = sorted(times)
        gaps += [b - a for a, b in pairwise(ordered)]
    step = median([g for g in gaps if g > 0] or [1.0])
    buckets: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for t, component, _, cpu in rows:
        buckets[component][round((t - t0) / step)] += cpu
    series = []
    for component in sorted(buckets, key=component_rank):
        points = sorted(buckets[component].items())
        xs = [k * step for k, _ in points]
        ys = [v for _, v in points]
        if len(xs) > max_points:
            width = math.ceil(len(xs) / max_points)
            xs = [sum(xs[i : i + width]) / len(xs[i : i + width]) for i in range(0, len(xs), width)]
            ys = [sum(ys[i : i + width]) / len(ys[i : i + width]) for i in range(0, len(ys), width)]
        series.append(CpuSeries(component, xs, ys, t0))
    return series


COMPONENT_ORDER = [
    "app",
    "postgres",
    "database",
    "db",
    "locust",
    "locust-master",
    "locust-worker",
    "loadgen",
    "load generator",
    "machine",
]


def read_window(path: Path) -> tuple[float, float, float] | None:
    """(start, measure_from, stop) wall-clock seconds from a cell's `measurement.json`."""
    try:
        raw = Measurement.read(path)
    except (OSError, ValueError):  # pydantic's ValidationError and SchemaVersionError too
        return None
    if raw.start_wall is None or raw.measure_from_wall is None or raw.stop_wall is None:
        return None
    return raw.start_wall, raw.measure_from_wall, raw.stop_wall


def component_rank(name: str) -> tuple[int, str]:
    lowered = name.lower()
    return (COMPONENT_ORDER.index(lowered) if lowered in COMPONENT_ORDER else 99, lowered)


def read_histogram(path: Path) -> HdrHistogram | None:
    if not path.is_file():
        return None
    payload = path.read_bytes().strip()
    if not payload:
        return None
    try:
        return HdrHistogram.decode(payload)
    except Exception:  # a corrupt or foreign encoding: the chart falls back to cell stats
        return None


def merge_histograms(histograms: Iterable[HdrHistogram]) -> HdrHistogram | None:
    merged: HdrHistogram | None = None
    for hist in histograms:
        if merged is None:
            merged = HdrHistogram(
                hist.lowest_trackable_value, hist.highest_trackable_value, hist.significant_figures
            )
        merged.add(hist)
    return merged


def unit_in_ms(hist: HdrHistogram, p50_ms: float | None) -> float:
    """Milliseconds per histogram unit: matched against the cell's own p50 when it has one.

    The histogram's unit is not part of its encoding; loadlab records microseconds, but a
    histogram in milliseconds or nanoseconds is recognised by comparing medians.
    """
    default = 1e-3
    raw = hist.get_value_at_percentile(50)
    if not p50_ms or p50_ms <= 0 or raw <= 0:
        return default
    candidates = (1.0, 1e-3, 1e-6)
    return min(candidates, key=lambda u: abs(math.log10(raw * u) - math.log10(p50_ms)))


# x positions of a percentile spectrum: x = -log10(1 - q), so 90% is 1, 99% is 2, 99.9% is 3
def spectrum(
    hist: HdrHistogram, unit_ms: float, points: int = 80
) -> tuple[list[float], list[float]]:
    total = hist.get_total_count()
    if total <= 0:
        return [], []
    top = float(min(5, max(1, math.floor(math.log10(total)))))
    xs, ys = [], []
    for i in range(points + 1):
        x = top * i / points
        q = 100.0 * (1 - 10 ** (-x))
        xs.append(x)
        ys.append(hist.get_value_at_percentile(q) * unit_ms)
    return xs, ys
