"""Everything the CLI shows: rich progress while a run works, and the tables at its end."""

from __future__ import annotations

import sys
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from loadlab.core.results import CellResult, CellSpec, Estimate, Summary

# piped output (CI logs, `| tee`) gets a width that fits the tables instead of 80 columns
console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 160)


class RichProgress:
    """loadlab.core.progress.Progress drawn with rich: the run's cells, the current cell, the seed."""

    def __init__(self) -> None:
        self.bar = Progress(
            SpinnerColumn(),
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.seed_tasks: dict[str, int] = {}
        self.cell_task: int | None = None
        self.phase_task = self.bar.add_task("starting", total=None)

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def phase(self, text: str) -> None:
        self.bar.update(self.phase_task, description=text)

    def note(self, text: str) -> None:
        self.bar.console.print(text)

    def seed(self, table: str, done: int, total: int) -> None:
        if table not in self.seed_tasks:
            self.seed_tasks[table] = self.bar.add_task(f"seeding {table}", total=total)
        self.bar.update(self.seed_tasks[table], completed=done, total=total)

    def cell_started(self, spec: CellSpec, index: int, total: int) -> None:
        label = f"{spec.variant} · {spec.workload} · {spec.load.label} · r{spec.repeat}"
        self.bar.update(self.phase_task, description=f"cell {index}/{total}: {label}")
        if self.cell_task is not None:
            self.bar.remove_task(self.cell_task)
        self.cell_task = self.bar.add_task(
            "  warm-up + measure (s)", total=spec.warmup_s + spec.duration_s
        )

    def cell_tick(self, elapsed: float, total: float) -> None:
        if self.cell_task is not None:
            self.bar.update(self.cell_task, completed=elapsed, total=total)

    def cell_finished(self, result: CellResult | None) -> None:
        if self.cell_task is not None:
            self.bar.remove_task(self.cell_task)
            self.cell_task = None
        if result is None:
            return
        mark = (
            ""
            if result.validity.valid
            else f" [red]INVALID: {'; '.join(r.message for r in result.validity.reasons)}[/]"
        )
        self.bar.console.print(
            f"  {result.spec.cell_id}: {result.throughput_rps:,.0f} req/s, "
            f"p50 {result.latency.p50:.1f} ms, p99 {result.latency.p99:.1f} ms, "
            f"errors {result.errors}{mark}"
        )


def _est(estimate: Estimate | None, digits: int = 0) -> str:
    if estimate is None:
        return "-"
    text = f"{estimate.median:,.{digits}f}"
    if estimate.n > 1:
        text += f" [{estimate.ci_low:,.{digits}f}–{estimate.ci_high:,.{digits}f}]"
    return text


def _load(label: str, db_rtt_ms: float | None) -> str:
    """The load level, and the emulated database round trip when the run set one."""
    return label if db_rtt_ms is None else f"{label} · db rtt {db_rtt_ms:g} ms"


def summary_tables(summary: Summary) -> list[Table]:
    results = Table(
        title=f"Run {summary.run_id}: per variant and workload (median [95% CI] over repeats)"
    )
    for column in (
        "workload",
        "load",
        "variant",
        "req/s",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "errors",
        "valid",
    ):
        results.add_column(
            column,
            justify="right" if column not in {"workload", "load", "variant", "valid"} else "left",
        )
    for agg in sorted(
        summary.aggregates,
        key=lambda a: (a.workload, a.load.sort_key, a.db_rtt_ms or 0.0, a.variant),
    ):
        results.add_row(
            agg.workload,
            _load(agg.load_label, agg.db_rtt_ms),
            agg.variant,
            _est(agg.throughput_rps),
            _est(agg.p50_ms, 1),
            _est(agg.p95_ms, 1),
            _est(agg.p99_ms, 1),
            f"{agg.errors:,}",
            "yes"
            if agg.valid
            else "[red]NO[/]: " + "; ".join(r.message for r in agg.invalid_reasons)[:160],
        )
    ratios = Table(title="FastAPI over Flask (throughput ratio, median [95% CI])")
    for column in ("workload", "load", "ratio", "value", "flag"):
        ratios.add_column(column)
    for ratio in sorted(
        summary.ratios, key=lambda r: (r.workload, r.load_label, r.db_rtt_ms or 0.0)
    ) + list(summary.capacity_ratios):
        ratios.add_row(
            ratio.workload,
            _load(ratio.load_label, ratio.db_rtt_ms),
            f"{ratio.numerator} / {ratio.denominator}",
            _est(ratio.estimate, 2) + "x",
            "[yellow]from invalid cells[/]" if ratio.flagged else "",
        )
    tables = [results, ratios]
    if summary.capacity:
        capacity = Table(title="Capacity search: highest arrival rate sustained within the SLO")
        for column in ("workload", "variant", "sustained req/s", "SLO", "stopped by"):
            capacity.add_column(column)
        for item in summary.capacity:
            capacity.add_row(
                item.workload,
                item.variant,
                f"{item.sustained_rps:,.0f}",
                f"p99 < {item.slo_p99_ms:g} ms, errors < {item.max_error_rate:.0%}",
                item.limited_by,
            )
        tables.append(capacity)
    return tables


def print_summary(summary: Summary) -> None:
    for table in summary_tables(summary):
        console.print(table)
    for variant, reason in summary.skipped_variants.items():
        console.print(f"[red]{variant} was not benchmarked:[/] {reason}")
    for caveat in summary.caveats:
        console.print(f"[yellow]caveat:[/] {caveat}")


def print_tuning(report: Any) -> None:
    """Per variant and workload: the winner, its throughput and p99 against stock."""
    table = Table(title=f"loadlab tune ({report.users} users, min gain {report.min_gain:.0%})")
    columns = ("workload", "variant", "winner", "req/s", "stock req/s", "p99 ms", "confirmed")
    for column in (*columns, "cells", "s"):
        table.add_column(column)
    for r in report.results:
        moved = {k: v for k, v in r.winner.items() if k != "keepalive_s"}
        check = r.confirmation
        confirmed = (
            "—"
            if check is None
            else f"{'yes' if check.confirmed else 'no'} ×{check.ratio:.2f} "
            f"[{check.ci_low:.2f}–{check.ci_high:.2f}]"
        )
        table.add_row(
            r.workload,
            r.variant,
            " ".join(f"{k}={v}" for k, v in moved.items()),
            f"{r.winner_throughput_rps:,.0f}",
            f"{r.stock_throughput_rps:,.0f}",
            f"{r.winner_p99_ms:.1f}",
            confirmed,
            str(r.cells),
            f"{r.seconds:.0f}",
        )
    console.print(table)
