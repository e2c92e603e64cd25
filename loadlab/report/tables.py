"""The numbers a report leads with, chosen from `summary.json` by rules a reader can check.

Headline rule, per workload:

- where the run has a capacity search for the workload, a variant's sustained throughput is
  the highest arrival rate it held within the SLO (`Capacity.sustained_rps`), its p50/p99 are
  the latencies measured at that step, and the ratios are the capacity ratios;
- otherwise the headline load level is the highest load level run for the workload (closed
  model preferred, the regime published benchmarks use): throughput, p50 and p99 are the
  medians across repeats at that level, and the ratios are the throughput ratios there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from loadlab.core.results import (
    Aggregate,
    Capacity,
    CapacityStep,
    CellResult,
    Estimate,
    LoadLevel,
    Manifest,
    Ratio,
    Summary,
)
from loadlab.measurement.stats import noise_factor, noise_floor_for, within_floor
from loadlab.report.runs import Run, order_variants

Basis = Literal["capacity", "throughput"]
FLASK_DENOMINATORS = ["flask-sync", "flask-gevent"]


@dataclass
class HeadlineRow:
    variant: str
    basis: Basis
    throughput: float
    throughput_ci: tuple[float, float] | None
    load_label: str
    p50_ms: float | None
    p99_ms: float | None
    valid: bool = True
    notes: list[str] = field(default_factory=list)

    @property
    def flag(self) -> str:
        """A few words for the table when the row is not valid; `notes` has the reasons."""
        if self.valid:
            return ""
        return "no rate met the SLO" if self.basis == "capacity" else "invalid cell"


@dataclass
class HeadlineRatio:
    workload: str
    numerator: str
    denominator: str
    basis: Basis
    load_label: str
    estimate: Estimate
    flagged: bool = False
    flag_reasons: list[str] = field(default_factory=list)
    method: str = ""
    blocks: int = 0
    noise_factor: float | None = None  # the A/A noise floor that judges it (f >= 1), if any

    @property
    def has_ci(self) -> bool:
        e = self.estimate
        return e.n > 1 or e.ci_low != e.ci_high

    @property
    def method_text(self) -> str:
        return METHOD_TEXT.get(self.method, self.method)

    @property
    def ci_text(self) -> str:
        e = self.estimate
        if self.has_ci:
            how = ", ".join(
                part
                for part in (self.method_text, f"{self.blocks} blocks" if self.blocks else "")
                if part
            )
            return f"95% CI {e.ci_low:.2f}–{e.ci_high:.2f}" + (f", {how}" if how else "")
        return "one capacity search, no CI" if self.basis == "capacity" else "one repeat, no CI"

    @property
    def within_noise(self) -> bool:
        """Its interval reaches inside the A/A noise floor: no difference is called."""
        return self.noise_factor is not None and within_floor(self.estimate, self.noise_factor)


# How each interval method (Ratio.method, loadlab/measurement/stats.py) is named in a report.
METHOD_TEXT = {
    "paired-t-log": "paired t on per-block log ratios",
    "block-bootstrap": "bootstrap over blocks",
    "independent-bootstrap-medians": "bootstrap of medians, unpaired",
    "single-measurement": "",
}


@dataclass
class WorkloadHeadline:
    workload: str
    basis: Basis
    load_label: str
    rows: list[HeadlineRow]
    ratios: list[HeadlineRatio]
    where: str = ""
    noise_floor: HeadlineRatio | None = None  # the A/A ratio (X#b over X) at this point

    @property
    def noise_text(self) -> str:
        """`A/A fastapi-async#b ÷ fastapi-async 1.01× (95% CI 0.98–1.03): noise floor ±3.1%`."""
        aa = self.noise_floor
        if aa is None or aa.noise_factor is None:
            return ""
        return (
            f"A/A {aa.numerator} ÷ {aa.denominator} {fmt_ratio(aa.estimate.median)} "
            f"({aa.ci_text}): noise floor ±{aa.noise_factor - 1:.1%}"
        )

    def row(self, variant: str) -> HeadlineRow | None:
        return next((r for r in self.rows if r.variant == variant), None)

    def ratio(self, denominator: str) -> HeadlineRatio | None:
        return next((r for r in self.ratios if r.denominator == denominator), None)


# ---------------------------------------------------------------- choosing the headline


def headline_load(summary: Summary, workload: str) -> LoadLevel | None:
    """The highest load level run for `workload`, closed model preferred."""
    levels = [a.load for a in summary.aggregates if a.workload == workload]
    if not levels:
        return None
    closed = [lv for lv in levels if lv.model == "closed"]
    return max(closed or levels, key=lambda lv: lv.sort_key)


def sustained_step(capacity: Capacity) -> CapacityStep | None:
    ok = [s for s in capacity.steps if s.ok]
    exact = [s for s in ok if math.isclose(s.rate, capacity.sustained_rps)]
    return (exact or sorted(ok, key=lambda s: s.rate))[-1] if ok else None


def _cell(summary: Summary, cell_id: str) -> CellResult | None:
    return next((c for c in summary.cells if c.spec.cell_id == cell_id), None) if cell_id else None


def _ratio_of(r: Ratio, summary: Summary | None = None) -> HeadlineRatio:
    aa = (
        noise_floor_for(summary.noise_floor, r.workload, r.load_label, r.db_rtt_ms)
        if summary is not None
        else None
    )
    return HeadlineRatio(
        workload=r.workload,
        numerator=r.numerator,
        denominator=r.denominator,
        basis=r.basis,
        load_label=r.load_label,
        estimate=r.estimate,
        flagged=r.flagged,
        flag_reasons=[f.text for f in r.flag_reasons],
        method=r.method,
        blocks=r.blocks,
        noise_factor=noise_factor(aa.estimate) if aa is not None else None,
    )


def headline_ratio(
    summary: Summary, workload: str, numerator: str, denominator: str
) -> HeadlineRatio | None:
    """The ratio the headline quotes for one pair: capacity basis if searched, else top load."""
    if any(c.workload == workload for c in summary.capacity):
        for r in summary.capacity_ratios:
            if (r.workload, r.numerator, r.denominator) == (workload, numerator, denominator):
                return _ratio_of(r, summary)
    load = headline_load(summary, workload)
    if load is None:
        return None
    for r in summary.ratios:
        if (r.workload, r.numerator, r.denominator, r.load_label) == (
            workload,
            numerator,
            denominator,
            load.label,
        ):
            return _ratio_of(r, summary)
    return None


def _denominators(summary: Summary, workload: str) -> list[str]:
    pairs = {
        r.denominator
        for r in summary.ratios + summary.capacity_ratios
        if r.workload == workload and r.numerator == summary.baseline_numerator
    }
    ordered = [d for d in FLASK_DENOMINATORS if d in pairs]
    return ordered + sorted(pairs - set(ordered))


def _capacity_row(summary: Summary, cap: Capacity) -> HeadlineRow:
    step = sustained_step(cap)
    cell = _cell(summary, step.cell_id) if step else None
    p50 = cell.latency.p50 if cell else None
    p99 = cell.latency.p99 if cell else (step.p99_ms if step else None)
    notes = [] if step else [f"no step met the SLO (p99 <= {cap.slo_p99_ms:g} ms)"]
    if cap.limited_by:
        notes.append(f"limited by: {cap.limited_by}")
    return HeadlineRow(
        variant=cap.variant,
        basis="capacity",
        throughput=cap.sustained_rps,
        throughput_ci=None,
        load_label=f"open {step.rate:g} req/s" if step else "—",
        p50_ms=p50,
        p99_ms=p99,
        valid=step is not None,
        notes=notes,
    )


def _throughput_row(agg: Aggregate) -> HeadlineRow:
    return HeadlineRow(
        variant=agg.variant,
        basis="throughput",
        throughput=agg.throughput_rps.median,
        throughput_ci=(
            (agg.throughput_rps.ci_low, agg.throughput_rps.ci_high)
            if agg.throughput_rps.ci_low != agg.throughput_rps.ci_high
            else None
        ),
        load_label=fmt_load(agg.load),
        p50_ms=agg.p50_ms.median,
        p99_ms=agg.p99_ms.median,
        valid=agg.valid,
        notes=[f.message for f in agg.invalid_reasons],
    )


def workload_headline(summary: Summary, workload: str) -> WorkloadHeadline:
    capacities = [c for c in summary.capacity if c.workload == workload]
    load = headline_load(summary, workload)
    basis: Basis = "capacity" if capacities else "throughput"
    rows: list[HeadlineRow] = []
    aa_arms = {r.numerator for r in summary.noise_floor}  # shown as the noise floor instead
    variants = order_variants(
        {a.variant for a in summary.aggregates if a.workload == workload} - aa_arms
        | {c.variant for c in capacities}
    )
    for variant in variants:
        cap = next((c for c in capacities if c.variant == variant), None)
        if cap is not None:
            rows.append(_capacity_row(summary, cap))
            continue
        agg = next(
            (
                a
                for a in summary.aggregates
                if a.workload == workload and a.variant == variant and load and a.load == load
            ),
            None,
        )
        if agg is not None:
            row = _throughput_row(agg)
            if basis == "capacity":
                row.notes.append("no capacity search: throughput at the top load level")
            rows.append(row)
    ratios = [
        r
        for d in _denominators(summary, workload)
        if (r := headline_ratio(summary, workload, summary.baseline_numerator, d)) is not None
    ]
    if basis == "capacity":
        slo = capacities[0].slo_p99_ms
        label = f"the highest arrival rate held with p99 ≤ {slo:g} ms (capacity search)"
        where = f"at capacity (p99 ≤ {slo:g} ms)"
    else:
        label = f"{fmt_load(load)}, the highest load level" if load else "—"
        where = f"at {fmt_load(load)}" if load else ""
    point = load.label if load is not None and basis == "throughput" else "capacity"
    aa = noise_floor_for(summary.noise_floor, workload, point)
    floor = _ratio_of(aa, summary) if aa is not None else None
    return WorkloadHeadline(workload, basis, label, rows, ratios, where, floor)


def headlines(run: Run) -> list[WorkloadHeadline]:
    return [workload_headline(run.summary, w) for w in run.workloads]


# ---------------------------------------------------------------- formatting


def fmt_rps(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def fmt_ms(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "—"
    return f"{value:.2f}×"


def fmt_load(load: LoadLevel) -> str:
    if load.model == "open":
        return f"open {load.rate:g} req/s"
    think = f", think {load.think_time_ms:g} ms" if load.think_time_ms else ""
    return f"{load.users} users{think}"


def fmt_bytes(value: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(value)


def pretty_key(key: str) -> str:
    return key.replace("_", " ").replace("-", " ")


def fmt_value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def pretty_label(summary: Summary, label: str) -> str:
    """`closed-64u` -> `64 users`, where the run has that load level; other labels as they are."""
    for a in summary.aggregates:
        if a.load_label == label:
            return fmt_load(a.load)
    return label


def ci_phrase(ratio: HeadlineRatio) -> str:
    e = ratio.estimate
    text = ratio.ci_text
    if not ratio.has_ci:
        return text
    if ratio.within_noise and ratio.noise_factor is not None:
        floor = ratio.noise_factor - 1
        text += f", inside the A/A noise floor (±{floor:.1%}): no difference called"
    elif e.ci_low <= 1 <= e.ci_high:
        text += ", not distinguishable from parity"
    return text


def answer_sentences(run: Run, heads: list[WorkloadHeadline]) -> list[str]:
    """One sentence per workload, the ratios in words. `**bold**` marks the figures."""
    out = []
    baseline = run.summary.baseline_numerator
    for head in heads:
        if not head.ratios:
            continue
        what = "the arrival rate" if head.basis == "capacity" else "the throughput"
        parts = [
            f"**{fmt_ratio(r.estimate.median)}** "
            + (f"{what} of {r.denominator}" if i == 0 else f"that of {r.denominator}")
            + f" ({ci_phrase(r)})"
            for i, r in enumerate(head.ratios)
        ]
        joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
        verb = "sustained" if head.basis == "capacity" else "served"
        line = f"**{head.workload}**, {head.where}: {baseline} {verb} {joined}"
        if any(r.flagged for r in head.ratios):
            line += "; flagged: an invalid cell went into these figures"
        out.append(line + ".")
    return out


# ---------------------------------------------------------------- environment and method


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            _flatten(f"{prefix}.{key}" if prefix else str(key), value[key], out)
    elif (
        prefix.endswith("_bytes") and isinstance(value, int | float) and not isinstance(value, bool)
    ):
        out[prefix] = fmt_bytes(float(value))
    else:
        out[prefix] = fmt_value(value)


def flatten_manifest(manifest: Manifest, sections: tuple[str, ...]) -> dict[str, str]:
    """`machine.cpu_model`-style keys for the sections named, as display strings."""
    data = manifest.model_dump(mode="json")
    out: dict[str, str] = {}
    for section in sections:
        if section in data:
            _flatten(section, data[section], out)
    return out


# The packages that decide the result; a manifest lists every installed distribution.
KEY_PACKAGES = [
    "flask",
    "werkzeug",
    "fastapi",
    "starlette",
    "pydantic",
    "gunicorn",
    "gevent",
    "greenlet",
    "uvicorn",
    "uvloop",
    "httptools",
    "asyncpg",
    "psycopg",
    "psycopg-binary",
    "psycopg-c",
    "psycopg-pool",
    "locust",
    "hdrhistogram",
]


def key_packages(packages: dict[str, str]) -> list[tuple[str, str]]:
    lowered = {k.lower(): (k, v) for k, v in packages.items()}
    return [lowered[name] for name in KEY_PACKAGES if name in lowered]


ENVIRONMENT_SECTIONS = (
    "backend",
    "machine",
    "topology",
    "cpusets",
    "python",
    "loadlab_version",
    "git_sha",
    "postgres",
    "data",
    "packages",
)


@dataclass
class LoadModel:
    models: list[str]
    levels: list[str]
    repeats: int
    duration_s: list[float]
    warmup_s: list[float]
    matrix_cells: int
    capacity_cells: int
    order: str
    capacity: list[str]
    generator: str


def load_model(run: Run) -> LoadModel:
    matrix = [c for c in run.summary.cells if c.spec.phase == "matrix"]
    seen: dict[str, LoadLevel] = {}
    for c in matrix:
        seen.setdefault(c.spec.load.label, c.spec.load)
    levels = sorted(seen.values(), key=lambda lv: (lv.model, lv.sort_key))
    repeats = len({c.spec.repeat for c in matrix})
    caps = [
        f"{c.workload} · {c.variant}: SLO p99 ≤ {c.slo_p99_ms:g} ms, errors ≤ "
        f"{c.max_error_rate:.1%}, {len(c.steps)} steps"
        for c in run.summary.capacity
    ]
    order = run.manifest.order
    design = str(
        order.get("design") or ("randomised" if order.get("randomised") else "as recorded")
    )
    if order.get("seed") is not None:
        design += f" (seed {order['seed']})"
    topology, config = run.manifest.topology, run.manifest.config
    workers = topology.get("locust_workers") or config.get("locust_workers")
    generator = "Locust, distributed" + (f": master + {workers} workers" if workers else "")
    if isinstance(topology.get("locust"), str):
        generator += f" ({topology['locust']})"
    return LoadModel(
        generator=generator,
        models=sorted({lv.model for lv in levels}),
        levels=[fmt_load(lv) for lv in levels],
        repeats=repeats,
        duration_s=sorted({c.spec.duration_s for c in matrix}),
        warmup_s=sorted({c.spec.warmup_s for c in matrix}),
        matrix_cells=len(matrix),
        capacity_cells=len(run.summary.cells) - len(matrix),
        order=design,
        capacity=caps,
    )


@dataclass
class ValidityReport:
    caveats: list[str]
    invalid_cells: list[tuple[str, list[str]]]
    flagged_ratios: list[tuple[str, list[str]]]
    skipped_variants: dict[str, str]
    failed_verification: list[tuple[str, list[str]]]
    marks: list[str]
    # a variant that passed but made more statements per request than expected (or than
    # another variant): a caveat on its numbers, not a mark against the run
    verification_warnings: list[tuple[str, list[str]]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (
            self.invalid_cells
            or self.flagged_ratios
            or self.skipped_variants
            or self.failed_verification
            or self.marks
        )


def validity(run: Run) -> ValidityReport:
    s, m = run.summary, run.manifest
    caveats: list[str] = []
    for c in m.caveats + s.caveats:
        if c not in caveats:
            caveats.append(c)
    marks = []
    if not s.complete:
        marks.append("the run is incomplete: not every cell of the matrix was measured")
    if m.interrupted:
        marks.append("the run was interrupted")
    if m.git_dirty:
        marks.append("loadlab ran from a working tree with uncommitted changes")
    if not m.finished:
        marks.append("the manifest records no finish time")
    return ValidityReport(
        caveats=caveats,
        invalid_cells=[
            (c.spec.cell_id, [f.message for f in c.validity.reasons])
            for c in s.cells
            if not c.validity.valid
        ],
        flagged_ratios=[
            (
                f"{r.workload} {r.load_label}: {r.numerator} / {r.denominator}",
                [f.text for f in r.flag_reasons],
            )
            for r in s.ratios + s.capacity_ratios
            if r.flagged
        ],
        skipped_variants=dict(s.skipped_variants),
        failed_verification=[(v.variant, v.failures) for v in s.verification if not v.passed],
        marks=marks,
        verification_warnings=[(v.variant, v.warnings) for v in s.verification if v.warnings],
    )
