"""Turn a results folder's raw cell files into `summary.json`.

Backends only write raw files (docs/contracts.md); everything computed lives here, so a
local, compose or Ansible run is summarised by the same code.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import TypeVar

import numpy as np

from labcontract.measurement import Measurement
from labcontract.resources import Resource
from loadlab.core.config import RunConfig
from loadlab.core.config import Validity as Thresholds
from loadlab.core.registry import UnknownVariantError, base_variant, get_variant
from loadlab.core.results import (
    Aggregate,
    Capacity,
    CapacityStep,
    CellResult,
    ComponentUsage,
    Estimate,
    Manifest,
    Ratio,
    Summary,
    VerificationResult,
    read_cell_spec,
    read_manifest,
    write_json_atomic,
    write_text_atomic,
)
from loadlab.core.verdicts import Finding, Flag, Verdict
from loadlab.measurement import latency, pgstats
from loadlab.measurement.calibrate import arm_of
from loadlab.measurement.faults import read_faults
from loadlab.measurement.precision import assess
from loadlab.measurement.soak import soak_cell
from loadlab.measurement.stats import (
    PAIRED_T,
    SINGLE,
    bootstrap_median,
    bootstrap_ratio,
    paired_ratio,
)
from loadlab.measurement.validity import judge

NUMERATOR = "fastapi-async"  # the headline numerator, when the run has it
F = TypeVar("F", bound=Finding)


def component_usage(path: Path, start: float, stop: float) -> dict[str, ComponentUsage]:
    """Per component: CPU summed over its processes at each sample, then averaged over time."""
    if not path.exists():
        return {}
    per_sample: dict[str, dict[float, list[tuple[int, float, int]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    with path.open() as handle:
        for row in csv.DictReader(handle):
            when = float(row[Resource.TIME])
            if start <= when <= stop + 0.5:
                per_sample[row[Resource.COMPONENT]][when].append(
                    (
                        int(row[Resource.PID]),
                        float(row[Resource.CPU_PERCENT]),
                        int(row[Resource.RSS_BYTES]),
                    )
                )
    usage: dict[str, ComponentUsage] = {}
    for component, samples in per_sample.items():
        totals = [sum(cpu for _, cpu, _ in rows) for rows in samples.values()]
        rss = [sum(r for _, _, r in rows) for rows in samples.values()]
        by_pid: dict[int, list[float]] = defaultdict(list)
        for rows in samples.values():
            for pid, cpu, _ in rows:
                by_pid[pid].append(cpu)
        busiest = max((sum(v) / len(v) for v in by_pid.values()), default=0.0)
        usage[component] = ComponentUsage(
            cpu_mean_percent=round(sum(totals) / len(totals), 1),
            cpu_max_percent=round(max(totals), 1),
            rss_max_bytes=max(rss),
            processes=len(by_pid),
            busiest_process_cpu_mean_percent=round(busiest, 1),
        )
    return usage


def statements_per_request(cell_dir: Path) -> float | None:
    """Every statement the cell's requests caused, per request: counted as verification
    counts them (loadlab.measurement.pgstats.request_statements), so the two agree."""
    stats_path, locust_path = cell_dir / "pg_stat_statements.json", cell_dir / "locust_stats.csv"
    if not stats_path.exists() or not locust_path.exists():
        return None
    with locust_path.open() as handle:
        total = next(
            (int(r["Request Count"]) for r in csv.DictReader(handle) if r["Name"] == "Aggregated"),
            0,
        )
    per_request = pgstats.calls_per_request(json.loads(stats_path.read_text()), total)
    return None if per_request is None else round(per_request, 3)


def analyze_cell(cell_dir: Path, thresholds: Thresholds, cpu_count: int) -> CellResult | None:
    """None when the cell never finished (interrupted): it is left out, not guessed. A cell
    a fault cut short (faults.json) is kept, invalid, whatever it managed to measure."""
    measurement_path = cell_dir / "measurement.json"
    faults = read_faults(cell_dir)
    if not (cell_dir / "cell.json").exists() or not (measurement_path.exists() or faults):
        return None
    spec = read_cell_spec(cell_dir)
    measurement = Measurement.read(measurement_path) if measurement_path.exists() else Measurement()
    histogram = latency.decode(measurement.hdr)
    hdr_path = cell_dir / "latency.hdr"
    if not hdr_path.exists() and measurement.hdr:
        write_text_atomic(hdr_path, measurement.hdr)
    requests = measurement.requests
    errors = measurement.errors
    measured = measurement.measured_s or spec.duration_s
    throughput = (requests - errors) / measured if measured else 0.0
    target = spec.load.rate if spec.load.model == "open" else None
    achieved = requests / measured if measured else 0.0
    resources = component_usage(
        cell_dir / "resources.csv",
        measurement.measure_from_wall or 0.0,
        measurement.stop_wall or float("inf"),
    )
    backlog = measurement.backlog
    validity = judge(
        requests=requests,
        errors=errors,
        target_rate=target,
        achieved_rps=achieved,
        resources=resources,
        cpu_count=cpu_count,
        workers_expected=measurement.workers_expected,
        workers_final=measurement.workers_final,
        thresholds=thresholds,
        backlog=backlog,
        faults=[f.reason for f in faults],
        swarm=measurement.swarm,
    )
    return CellResult(
        spec=spec,
        requests=requests,
        errors=errors,
        error_rate=round(errors / requests, 5) if requests else 0.0,
        measured_s=round(measured, 3),
        throughput_rps=round(throughput, 2),
        target_rate=target,
        rate_held=None if target is None else achieved >= target * (1 - thresholds.rate_tolerance),
        latency=latency.summarize(histogram),
        resources=resources,
        statements_per_request=statements_per_request(cell_dir),
        validity=validity,
        workers_reported=measurement.workers_reported,
        failures=dict(measurement.failures),
    )


def _once(findings: Iterable[F]) -> list[F]:
    """Each finding once, in the order of what it says ("cell: message" for a flag)."""
    return sorted({str(f): f for f in findings}.values(), key=str)


def _rtt_key(cell: CellResult) -> float:
    """The emulated round trip as a sortable key (-1: no emulated link)."""
    return -1.0 if cell.spec.db_rtt_ms is None else cell.spec.db_rtt_ms


def aggregate(cells: list[CellResult]) -> list[Aggregate]:
    groups: dict[tuple[str, str, str, float], list[CellResult]] = defaultdict(list)
    for cell in cells:
        key = (cell.spec.variant, cell.spec.workload, cell.spec.load.label, _rtt_key(cell))
        groups[key].append(cell)
    aggregates = []
    for (variant, workload, label, _), members in sorted(groups.items()):
        reasons = _once(r for c in members for r in c.validity.reasons)
        aggregates.append(
            Aggregate(
                variant=variant,
                workload=workload,
                load=members[0].spec.load,
                load_label=label,
                throughput_rps=bootstrap_median([c.throughput_rps for c in members]),
                p50_ms=bootstrap_median([c.latency.p50 for c in members]),
                p95_ms=bootstrap_median([c.latency.p95 for c in members]),
                p99_ms=bootstrap_median([c.latency.p99 for c in members]),
                errors=sum(c.errors for c in members),
                requests=sum(c.requests for c in members),
                valid=all(c.validity.valid for c in members),
                invalid_reasons=reasons,
                db_rtt_ms=members[0].spec.db_rtt_ms,
            )
        )
    return aggregates


def framework_of(variant: str) -> str:
    """The registry's framework of a variant (an arm "X#label": X's); a name the registry
    does not know (a run made with another registry) by its prefix, `fastapi-x` -> fastapi."""
    try:
        return get_variant(base_variant(variant)).framework
    except UnknownVariantError:
        return variant.split("-", 1)[0]


def ratio_pairs(variants: Iterable[str], calibrate: str | None = None) -> list[tuple[str, str]]:
    """Every fastapi variant present over every flask variant present, except the A/A arm of
    `calibrate` (its second arm measures the noise floor, not a framework); fastapi-async
    first (the headline numerator), then the others by name; denominators by name."""
    names = sorted(set(variants) - {arm_of(calibrate)} if calibrate else set(variants))
    tops = [v for v in names if framework_of(v) == "fastapi"]
    tops.sort(key=lambda v: (v != NUMERATOR, v))
    bottoms = [v for v in names if framework_of(v) == "flask"]
    return [(top, bottom) for top in tops for bottom in bottoms]


def _by_block(cells: list[CellResult]) -> dict[int, list[CellResult]]:
    blocks: dict[int, list[CellResult]] = defaultdict(list)
    for cell in cells:
        blocks[cell.spec.repeat].append(cell)
    return blocks


def paired_estimate(
    top: list[CellResult], bottom: list[CellResult], method: str = PAIRED_T
) -> tuple[Estimate, list[CellResult], int]:
    """The ratio of `top` over `bottom` from the blocks (repeats) that measured both: one log
    ratio per block, its interval by `method`. Returns the estimate, the cells it used and
    the cells left out (a block lacking one side, or with no throughput to take a log of)."""
    a, b = _by_block(top), _by_block(bottom)
    used: list[CellResult] = []
    logs: list[float] = []
    for block in sorted(set(a) & set(b)):
        rates_a = [c.throughput_rps for c in a[block]]
        rates_b = [c.throughput_rps for c in b[block]]
        if min(rates_a + rates_b) <= 0:
            continue
        # one cell a side per block in a planned matrix; several are pooled geometrically
        logs.append(float(np.mean(np.log(rates_a)) - np.mean(np.log(rates_b))))
        used += a[block] + b[block]
    unpaired = len(top) + len(bottom) - len(used)
    return paired_ratio(logs, method), used, unpaired


def _ratio(
    key: tuple[str, str, float],
    top: list[CellResult],
    bottom: list[CellResult],
    method: str,
) -> Ratio:
    workload, label, _ = key
    estimate, used, unpaired = paired_estimate(top, bottom, method)
    invalid = [c for c in used if not c.validity.valid]
    return Ratio(
        workload=workload,
        load_label=label,
        numerator=top[0].spec.variant,
        denominator=bottom[0].spec.variant,
        estimate=estimate,
        flagged=bool(invalid),
        flag_reasons=_once(
            Flag.from_finding(c.spec.cell_id, r) for c in invalid for r in c.validity.reasons
        ),
        db_rtt_ms=top[0].spec.db_rtt_ms,
        method=method,
        blocks=estimate.n,
        unpaired_cells=unpaired,
    )


def _groups(cells: list[CellResult]) -> dict[tuple[str, str, float], dict[str, list[CellResult]]]:
    groups: dict[tuple[str, str, float], dict[str, list[CellResult]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for cell in cells:
        key = (cell.spec.workload, cell.spec.load.label, _rtt_key(cell))
        groups[key][cell.spec.variant].append(cell)
    return groups


def ratios(
    cells: list[CellResult], method: str = PAIRED_T, calibrate: str | None = None
) -> list[Ratio]:
    """Per workload, load level and RTT: every fastapi variant over every flask variant,
    paired by block (see `paired_estimate`); `calibrate`'s A/A arm is left out."""
    result = []
    for key, by_variant in sorted(_groups(cells).items()):
        for top, bottom in ratio_pairs(by_variant, calibrate):
            result.append(_ratio(key, by_variant[top], by_variant[bottom], method))
    return result


def noise_floor(
    cells: list[CellResult], calibrate: str | None, method: str = PAIRED_T
) -> list[Ratio]:
    """The A/A ratios: `calibrate`'s second arm (X#b) over the variant itself (X), per
    workload, load level and RTT, paired by block like every other ratio."""
    if not calibrate:
        return []
    arm = arm_of(calibrate)
    return [
        _ratio(key, by_variant[arm], by_variant[calibrate], method)
        for key, by_variant in sorted(_groups(cells).items())
        if arm in by_variant and calibrate in by_variant
    ]


def capacity(cells: list[CellResult], config: RunConfig) -> list[Capacity]:
    search = config.capacity
    groups: dict[tuple[str, str], list[CellResult]] = defaultdict(list)
    for cell in cells:
        groups[(cell.spec.variant, cell.spec.workload)].append(cell)
    found = []
    for (variant, workload), steps in sorted(groups.items()):
        steps.sort(key=lambda c: c.target_rate or 0.0)
        records, sustained, limited_by = [], 0.0, "max_rate or max_steps reached"
        limit: Finding | None = None  # the first step that failed ends the search
        for cell in steps:
            failed = step_verdict(cell, search.slo_p99_ms, search.max_error_rate)
            records.append(
                CapacityStep(
                    rate=cell.target_rate or 0.0,
                    achieved_rps=cell.throughput_rps,
                    p99_ms=cell.latency.p99,
                    error_rate=cell.error_rate,
                    ok=failed is None,
                    reason="" if failed is None else failed.message,
                    cell_id=cell.spec.cell_id,
                )
            )
            if limit is not None:
                continue
            if failed is None:
                sustained = max(sustained, cell.throughput_rps)
            else:
                limit = failed
                limited_by = f"step at {cell.target_rate:g} req/s: {failed.message}"
        found.append(
            Capacity(
                variant=variant,
                workload=workload,
                slo_p99_ms=search.slo_p99_ms,
                max_error_rate=search.max_error_rate,
                sustained_rps=round(sustained, 1),
                steps=records,
                limited_by=limited_by,
                limit=limit,
            )
        )
    return found


def step_verdict(cell: CellResult, slo_p99_ms: float, max_error_rate: float) -> Finding | None:
    """One capacity step: why the variant did not hold the rate within the SLO (None: it did)."""
    if cell.requests and cell.error_rate > max_error_rate:
        return Finding(
            code=Verdict.ERROR_RATE,
            message=f"error rate {cell.error_rate:.1%} over {max_error_rate:.0%}",
            details={"error_rate": cell.error_rate, "limit": max_error_rate},
        )
    if cell.latency.p99 > slo_p99_ms:
        return Finding.of(Verdict.P99_OVER_SLO, p99_ms=cell.latency.p99, slo_p99_ms=slo_p99_ms)
    if cell.rate_held is False:
        return Finding(code=Verdict.RATE_NOT_HELD, message="target rate not held")
    return next((r for r in cell.validity.reasons if r.code.loadgen_saturated), None)


def capacity_ratios(found: list[Capacity]) -> list[Ratio]:
    """Sustained capacity, every fastapi variant over every flask variant: one search a side,
    so a point without an interval (method single-measurement)."""
    by_workload: dict[str, dict[str, Capacity]] = defaultdict(dict)
    for item in found:
        by_workload[item.workload][item.variant] = item
    result = []
    for workload, by_variant in sorted(by_workload.items()):
        for numerator, denominator in ratio_pairs(by_variant):
            top, item = by_variant[numerator], by_variant[denominator]
            if not item.sustained_rps or not top.sustained_rps:
                continue
            flags = [
                Flag(
                    source=c.variant,
                    code=c.limit.code,
                    message=c.limited_by,
                    details=c.limit.details,
                )
                for c in (top, item)
                if c.limit is not None and c.limit.code.loadgen_saturated
            ]
            result.append(
                Ratio(
                    workload=workload,
                    load_label=f"capacity p99<{top.slo_p99_ms:g}ms",
                    numerator=numerator,
                    denominator=denominator,
                    basis="capacity",
                    estimate=bootstrap_ratio([top.sustained_rps], [item.sustained_rps]),
                    flagged=bool(flags),
                    flag_reasons=flags,
                    method=SINGLE,
                    blocks=1,
                )
            )
    return result


def _has(findings: Iterable[Finding], code: Verdict) -> bool:
    return any(f.code is code for f in findings)


def caveats(manifest: Manifest, cells: Iterable[CellResult]) -> list[str]:
    notes = list(manifest.caveats)
    cells = list(cells)
    invalid = [c for c in cells if not c.validity.valid]
    if invalid:
        notes.append(f"{len(invalid)} of {len(cells)} cells are marked invalid (see each cell)")
    saturated = [c for c in cells if _has(c.validity.warnings, Verdict.MACHINE_SATURATED)]
    if saturated:
        notes.append(
            f"the machine's CPUs were saturated in {len(saturated)} of {len(cells)} cells: "
            "figures there measure the whole machine, not the framework alone"
        )
    at_most = [c for c in cells if _has(c.validity.reasons, Verdict.LOADGEN_SATURATED_AT_MOST)]
    if at_most:
        notes.append(
            f"the load generator saturated in {len(at_most)} of {len(cells)} cells even with "
            "the most Locust workers auto sizing runs (one per core): their figures are "
            "Locust's limit, not the app's; the load generator needs more cores"
        )
    if manifest.interrupted:
        notes.append("the run was interrupted: only the cells that finished are included")
    return notes


def _baseline(found: list[Ratio]) -> str:
    """The headline numerator: fastapi-async where the run has it, else the first one."""
    numerators = [r.numerator for r in found]
    return NUMERATOR if NUMERATOR in numerators or not numerators else numerators[0]


def summarize(run_dir: Path) -> Summary:
    manifest = read_manifest(run_dir)
    config = RunConfig.model_validate(manifest.config)
    cpu_count = int(manifest.machine.get("cpu_count") or 0)
    cells: list[CellResult] = []
    for cell_dir in sorted((run_dir / "cells").glob("*")):
        if manifest.checksums is not None and cell_dir.name not in manifest.checksums:
            continue  # never sealed: the cell was cut off (Locust may still have written a file)
        if cell_dir.is_dir() and (result := analyze_cell(cell_dir, config.validity, cpu_count)):
            cells.append(result)
    matrix_cells = [c for c in cells if c.spec.phase == "matrix"]
    capacity_found = capacity([c for c in cells if c.spec.phase == "capacity"], config)
    verification_path = run_dir / "verification.json"
    verification = (
        [VerificationResult.model_validate(v) for v in json.loads(verification_path.read_text())]
        if verification_path.exists()
        else []
    )
    found_ratios = ratios(matrix_cells, config.interval, config.calibrate)
    summary = Summary(
        run_id=manifest.run_id,
        backend=manifest.backend,
        preset=manifest.preset,
        baseline_numerator=_baseline(found_ratios),
        cells=cells,
        aggregates=aggregate(matrix_cells),
        ratios=found_ratios,
        noise_floor=noise_floor(matrix_cells, config.calibrate, config.interval),
        precision=(
            manifest.precision.model_copy(
                update={"ratios": assess(found_ratios, manifest.precision.target)}
            )
            if manifest.precision
            else None
        ),
        capacity=capacity_found,
        capacity_ratios=capacity_ratios(capacity_found),
        verification=verification,
        skipped_variants={v.variant: "; ".join(v.failures) for v in verification if not v.passed},
        caveats=caveats(manifest, cells),
        complete=not manifest.interrupted,
        soak=[
            soak_cell(run_dir / "cells" / c.spec.cell_id, c, config.soak)
            for c in matrix_cells
            if config.soak.enabled
        ],
    )
    summary.caveats.extend(flag for s in summary.soak for flag in s.flags)
    if config.calibrate and not summary.noise_floor:
        summary.caveats.append(
            f"calibrate asked for an A/A arm of {config.calibrate}, but no block measured both "
            f"arms ({config.backend} backend): the run has no noise floor"
        )
    write_json_atomic(run_dir / "summary.json", summary)
    return summary
