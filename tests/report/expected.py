"""The headline numbers a report must show, worked out from summary.json on its own.

Written independently of loadlab.report.tables so a test compares two readings of the rule:
a capacity search's sustained rate where the run searched, otherwise the medians at the
highest (closed-model) load level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Row:
    throughput: float
    p50: float | None
    p99: float | None


@dataclass
class RatioFigure:
    median: float
    ci_low: float
    ci_high: float


def _top_level(summary: dict[str, Any], workload: str) -> dict[str, Any] | None:
    levels = [a["load"] for a in summary["aggregates"] if a["workload"] == workload]
    if not levels:
        return None
    closed = [lv for lv in levels if lv["model"] == "closed"]
    if closed:
        return max(closed, key=lambda lv: lv["users"])
    return max(levels, key=lambda lv: lv["rate"])


def workloads(summary: dict[str, Any]) -> list[str]:
    names = [a["workload"] for a in summary["aggregates"]] + [
        c["workload"] for c in summary["capacity"]
    ]
    return list(dict.fromkeys(names))


def rows(summary: dict[str, Any], workload: str) -> dict[str, Row]:
    caps = [c for c in summary["capacity"] if c["workload"] == workload]
    cells = {c["spec"]["cell_id"]: c for c in summary["cells"]}
    out: dict[str, Row] = {}
    if caps:
        for cap in caps:
            held = [s for s in cap["steps"] if s["ok"] and s["rate"] == cap["sustained_rps"]]
            cell = cells.get(held[0]["cell_id"]) if held else None
            out[cap["variant"]] = Row(
                cap["sustained_rps"],
                cell["latency"]["p50"] if cell else None,
                cell["latency"]["p99"] if cell else None,
            )
        return out
    top = _top_level(summary, workload)
    for a in summary["aggregates"]:
        if a["workload"] == workload and a["load"] == top:
            out[a["variant"]] = Row(
                a["throughput_rps"]["median"], a["p50_ms"]["median"], a["p99_ms"]["median"]
            )
    return out


def ratio(
    summary: dict[str, Any], workload: str, numerator: str, denominator: str
) -> RatioFigure | None:
    pair = (workload, numerator, denominator)
    if any(c["workload"] == workload for c in summary["capacity"]):
        candidates = summary["capacity_ratios"]
    else:
        top = _top_level(summary, workload)
        if top is None:
            return None
        labels = {a["load_label"] for a in summary["aggregates"] if a["load"] == top}
        candidates = [r for r in summary["ratios"] if r["load_label"] in labels]
    for r in candidates:
        if (r["workload"], r["numerator"], r["denominator"]) == pair:
            e = r["estimate"]
            return RatioFigure(e["median"], e["ci_low"], e["ci_high"])
    return None


def verdict(low: float | None, high: float | None, figure: RatioFigure) -> str:
    if high is not None and figure.ci_low > high:
        return "higher"
    if low is not None and figure.ci_high < low:
        return "lower"
    return "consistent"
