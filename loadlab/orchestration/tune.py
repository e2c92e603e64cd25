"""`loadlab tune`: each variant's best knobs per workload, under one budget for all.

The search is coordinate descent from the stock values: one knob at a time, its candidates
from the registry are measured with the others held, and the best is kept only when it
beats the incumbent by more than `min_gain` (a change inside the noise keeps the simpler,
stock-nearer value). Every configuration tried is a real cell of one run, in
`results/<run-id>/`, and `tune.json` records each one's throughput and p99 and the winner.
Candidates over the budget (workers × pool size above the connection ceiling) are never run.
Keep-alive is not searched: every variant gets the budget's one value (a fairness rule).

The descent picks the best of several noisy cells, so its winner's figure is biased upward
(the winner's curse). A winner that differs from the start is therefore confirmed on fresh
cells: `confirm_pairs` pairs of start and winner, in ABBA order so a slow drift cancels, and
the winner is kept only if every pair favours it and their geometric mean gains more than
`min_gain`. Otherwise the start is kept, and `tune.json` says why.
"""

from __future__ import annotations

import json
import math
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from loadlab.core.config import RunConfig
from loadlab.core.profiles import (
    TunedEntry,
    TunedProfile,
    load_tuned,
    over_budget,
    reload_tuned,
    tuned_path,
)
from loadlab.core.registry import KnobValue, get_variant
from loadlab.core.results import (
    CellResult,
    CellSpec,
    LoadLevel,
    write_json_atomic,
    write_text_atomic,
)
from loadlab.measurement import environment
from loadlab.measurement.stats import paired_t_ratio
from loadlab.orchestration.runner import Run, open_lab

# Knobs that cannot matter to a workload that never touches the database.
DB_ONLY_KNOBS = {"pool_size", "asyncpg_reset"}
NO_DB_FAMILIES = {"json", "plaintext", "io"}
# The order knobs are searched in: the ones that set how much runs at once first.
KNOB_ORDER = [
    "workers",
    "threads",
    "worker_connections",
    "pool_size",
    "asyncpg_reset",
    "http_parser",
    "json",
]


class Trial(BaseModel):
    knobs: dict[str, KnobValue]
    changed: str = Field(description="the knob this trial moved ('' for the starting point)")
    cell_id: str | None = None
    throughput_rps: float | None = None
    p99_ms: float | None = None
    valid: bool | None = None
    skipped: str = Field(default="", description="why it was not run (over budget)")


class Confirmation(BaseModel):
    """The descent's winner against the start on fresh, paired cells."""

    candidate: dict[str, KnobValue]
    pairs: list[tuple[Trial, Trial]] = Field(description="(start, candidate) per pair")
    ratios: list[float] = Field(description="candidate over start, per pair")
    ratio: float = Field(description="geometric mean of the per-pair ratios")
    ci_low: float
    ci_high: float
    confirmed: bool
    reason: str


class TuneResult(BaseModel):
    variant: str
    workload: str
    users: int
    trials: list[Trial]
    confirmation: Confirmation | None = None
    winner: dict[str, KnobValue]
    winner_throughput_rps: float
    winner_p99_ms: float
    stock_throughput_rps: float
    cells: int
    seconds: float


class TuneReport(BaseModel):
    schema_version: int = 1
    run_id: str
    users: int
    min_gain: float
    budget: dict[str, Any]
    results: list[TuneResult]


def relevant_knobs(variant: str, workload: str) -> list[str]:
    family = workload.split("-")[0] if workload.split("-")[-1].isdigit() else workload
    have = get_variant(variant).knobs
    return [
        k for k in KNOB_ORDER if k in have and not (family in NO_DB_FAMILIES and k in DB_ONLY_KNOBS)
    ]


class Tuner:
    def __init__(
        self, run: Run, lab: Any, users: int, min_gain: float, confirm_pairs: int = 2
    ) -> None:
        self.run, self.lab, self.users, self.min_gain = run, lab, users, min_gain
        self.confirm_pairs = confirm_pairs
        self.order = 0
        self.cpus = int(lab.topology.get("app_workers") or 1)

    def measure(self, variant: str, workload: str, knobs: dict[str, KnobValue]) -> CellResult:
        config = self.run.config
        self.order += 1
        label = "-".join(f"{k}{v}" for k, v in sorted(knobs.items()))[:80]
        spec = CellSpec(
            cell_id=f"{self.order:03d}-{variant}-{workload}-{label}",
            order=self.order,
            variant=variant,
            workload=workload,
            load=LoadLevel(model="closed", users=self.users),
            repeat=1,
            duration_s=config.duration_s,
            warmup_s=config.warmup_s,
            phase="tune",
            knobs=knobs,
            profile="custom",
        )
        with self.lab.serve(variant, knobs, "custom") as served:
            return self.run.run_cell(self.lab, spec, served, self.order, 0)

    def start(self, variant: str) -> dict[str, KnobValue]:
        """Stock, with the budget's one keep-alive."""
        start: dict[str, KnobValue] = dict(get_variant(variant).stock(self.cpus))
        if "keepalive_s" in start:
            start["keepalive_s"] = self.run.config.budget.keepalive_s
        return start

    def trial(
        self, variant: str, workload: str, knobs: dict[str, KnobValue], changed: str
    ) -> Trial:
        problem = over_budget(variant, knobs, self.cpus, self.run.config.budget.db_connections)
        if problem:
            return Trial(knobs=knobs, changed=changed, skipped=problem)
        self.run.progress.phase(f"tuning {variant} {workload}: {changed or 'start'}")
        result = self.measure(variant, workload, knobs)
        return Trial(
            knobs=knobs,
            changed=changed,
            cell_id=result.spec.cell_id,
            throughput_rps=result.throughput_rps,
            p99_ms=result.latency.p99,
            valid=result.validity.valid,
        )

    def tune(self, variant: str, workload: str) -> TuneResult:
        started = time.monotonic()
        spec = get_variant(variant)
        start = self.start(variant)

        def measure(knobs: dict[str, KnobValue], changed: str) -> Trial:
            return self.trial(variant, workload, knobs, changed)

        axes = {k: spec.candidates(k, self.cpus) for k in relevant_knobs(variant, workload)}
        best, trials = descend(start, axes, measure, self.min_gain)
        return self.settle(variant, workload, start, best, trials, started)

    def confirm_only(
        self, variant: str, workload: str, candidate: dict[str, KnobValue]
    ) -> TuneResult:
        """Confirm a winner found earlier (the tuned profile's) without searching again."""
        started = time.monotonic()
        start = self.start(variant)
        full = {**start, **candidate}
        best = Trial(knobs=full, changed="tuned profile")
        return self.settle(variant, workload, start, best, [], started)

    def settle(
        self,
        variant: str,
        workload: str,
        start: dict[str, KnobValue],
        best: Trial,
        trials: list[Trial],
        started: float,
    ) -> TuneResult:
        measured = [t for t in trials if t.cell_id]
        confirmation = None
        winner = best
        stock = trials[0] if trials else None
        if best.knobs != start and self.confirm_pairs > 0:
            confirmation = self.confirm(variant, workload, start, best.knobs)
            measured += [t for pair in confirmation.pairs for t in pair if t.cell_id]
            stock = mean_trial(start, "", [a for a, _ in confirmation.pairs])
            winner = stock
            if confirmation.confirmed:
                winner = mean_trial(best.knobs, "confirmed", [b for _, b in confirmation.pairs])
        elif not trials:
            stock = winner = self.trial(variant, workload, start, "")
            measured.append(winner)
        return TuneResult(
            variant=variant,
            workload=workload,
            users=self.users,
            trials=trials,
            confirmation=confirmation,
            winner=winner.knobs,
            winner_throughput_rps=winner.throughput_rps or 0.0,
            winner_p99_ms=winner.p99_ms or 0.0,
            stock_throughput_rps=(stock.throughput_rps if stock else None) or 0.0,
            cells=len(measured),
            seconds=round(time.monotonic() - started, 1),
        )

    def confirm(
        self,
        variant: str,
        workload: str,
        start: dict[str, KnobValue],
        candidate: dict[str, KnobValue],
    ) -> Confirmation:
        pairs: list[tuple[Trial, Trial]] = []
        for i in range(self.confirm_pairs):
            order = ("start", "candidate") if i % 2 == 0 else ("candidate", "start")
            got: dict[str, Trial] = {}
            for which in order:
                knobs = start if which == "start" else candidate
                got[which] = self.trial(variant, workload, knobs, f"confirm {which} {i + 1}")
            pairs.append((got["start"], got["candidate"]))
        return judge(candidate, pairs, self.min_gain)


def mean_trial(knobs: dict[str, KnobValue], changed: str, trials: list[Trial]) -> Trial:
    """One trial standing for several cells of the same knobs: mean throughput and p99."""
    ran = [t for t in trials if t.throughput_rps is not None]
    if not ran:
        return Trial(knobs=knobs, changed=changed)
    return Trial(
        knobs=knobs,
        changed=changed,
        throughput_rps=round(sum(t.throughput_rps or 0.0 for t in ran) / len(ran), 2),
        p99_ms=round(sum(t.p99_ms or 0.0 for t in ran) / len(ran), 3),
        valid=all(t.valid for t in ran),
    )


def judge(
    candidate: dict[str, KnobValue], pairs: list[tuple[Trial, Trial]], min_gain: float
) -> Confirmation:
    """Keep the candidate only if every pair favours it and the mean gain beats `min_gain`."""
    logs: list[float] = []
    problem = ""
    for a, b in pairs:
        if not (a.valid and b.valid and a.throughput_rps and b.throughput_rps):
            problem = "a confirmation cell was invalid or not run"
            continue
        logs.append(math.log(b.throughput_rps / a.throughput_rps))
    estimate = paired_t_ratio(logs)
    ratios = [round(math.exp(x), 4) for x in logs]
    if problem:
        confirmed, reason = False, problem
    elif any(r <= 1.0 for r in ratios):
        confirmed, reason = False, "not every pair favoured the candidate"
    elif estimate.median <= 1 + min_gain:
        confirmed, reason = False, f"mean gain {estimate.median - 1:.1%} is within {min_gain:.0%}"
    else:
        confirmed, reason = True, f"every pair favoured it, mean gain {estimate.median - 1:.1%}"
    return Confirmation(
        candidate=candidate,
        pairs=pairs,
        ratios=ratios,
        ratio=round(estimate.median, 4),
        ci_low=round(estimate.ci_low, 4),
        ci_high=round(estimate.ci_high, 4),
        confirmed=confirmed,
        reason=reason,
    )


def descend(
    start: dict[str, KnobValue],
    axes: dict[str, list[KnobValue]],
    measure: Callable[[dict[str, KnobValue], str], Trial],
    min_gain: float,
) -> tuple[Trial, list[Trial]]:
    """One pass of coordinate descent: for each knob in turn, measure its candidates with
    the others held at the incumbent's values, and move only for a gain above `min_gain`.
    Each distinct configuration is measured once. Returns the winner and every trial, the
    starting point first."""
    tried: dict[str, Trial] = {}

    def trial(knobs: dict[str, KnobValue], changed: str) -> Trial:
        key = json.dumps(knobs, sort_keys=True)
        if key not in tried:
            tried[key] = measure(knobs, changed)
        return tried[key]

    best = trial(dict(start), "")
    for knob, values in axes.items():
        incumbent = best
        for value in values:
            if value == incumbent.knobs[knob]:
                continue
            candidate = trial({**incumbent.knobs, knob: value}, f"{knob}={value}")
            bar = (best.throughput_rps or 0.0) * (1 + min_gain)
            if candidate.valid and (candidate.throughput_rps or 0.0) > bar:
                best = candidate
    return best, list(tried.values())


def tune(
    config: RunConfig,
    users: int,
    min_gain: float,
    root: Path,
    progress: Any,
    confirm_pairs: int = 2,
    confirm_only: bool = False,
) -> tuple[Path, TuneReport]:
    """Tune every variant of `config` for every workload of it, in one run. With
    `confirm_only`, search nothing: confirm the tuned profile's winners against stock."""
    run = Run(config.model_copy(update={"verify": False}), root, progress)
    results: list[TuneResult] = []
    interrupted = False
    try:
        with open_lab(run.config, run.dir, progress) as lab:
            run.attach(lab)
            tuner = Tuner(run, lab, users, min_gain, confirm_pairs)
            profile = load_tuned() if confirm_only else None
            for workload in config.workloads:
                for variant in config.variants:
                    if profile is None:
                        results.append(tuner.tune(variant, workload))
                    elif (entry := profile.entry(variant, workload)) is not None:
                        results.append(tuner.confirm_only(variant, workload, entry.knobs))
                    write_report(run, users, min_gain, results)
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        run.manifest.finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        run.manifest.interrupted = interrupted
        run.save_manifest()
    return run.dir, write_report(run, users, min_gain, results)


def write_report(run: Run, users: int, min_gain: float, results: list[TuneResult]) -> TuneReport:
    report = TuneReport(
        run_id=run.run_id,
        users=users,
        min_gain=min_gain,
        budget=run.config.budget.model_dump(),
        results=results,
    )
    write_json_atomic(run.dir / "tune.json", report)
    return report


def write_profile(report: TuneReport, path: Path | None = None) -> Path:
    """Merge the winners into the tuned profile file (other variants' entries are kept)."""
    path = path or tuned_path()
    profile = load_tuned(path) if path.exists() else TunedProfile()
    machine = environment.machine()
    for result in report.results:
        entries = profile.variants.setdefault(result.variant, {})
        entry = TunedEntry(
            knobs=result.winner,
            throughput_rps=result.winner_throughput_rps,
            p99_ms=result.winner_p99_ms,
            stock_throughput_rps=result.stock_throughput_rps,
            cells=result.cells,
            seconds=result.seconds,
            tune_run=report.run_id,
            confirmed_ratio=result.confirmation.ratio if result.confirmation else None,
            confirmed=result.confirmation.confirmed if result.confirmation else None,
        )
        earlier = entries.get(result.workload)
        if not result.trials and earlier is not None:
            # confirmed only: the search's own cost and run stay on record, the cells add up
            entry.cells = (earlier.cells or 0) + result.cells
            entry.seconds = round((earlier.seconds or 0.0) + result.seconds, 1)
            entry.tune_run = f"{earlier.tune_run}+{report.run_id}"
        entries[result.workload] = entry
    profile.found = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    profile.machine = {
        k: machine[k] for k in ("cpu_model", "cpu_count", "kernel", "memory_bytes") if k in machine
    }
    profile.budget = report.budget
    profile.users = report.users
    write_text_atomic(path, render_toml(profile))
    reload_tuned()
    tomllib.loads(path.read_text())  # what was written reads back
    return path


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    return json.dumps(str(value))


def render_toml(profile: TunedProfile) -> str:
    lines = [
        "# The tuned profile: each variant's best knobs per workload, found by `loadlab tune`",
        "# on the machine below under the budget below. `loadlab run --profile tuned` uses it.",
        "# Written by the tuner; rerun `loadlab tune --write` rather than editing by hand.",
        f"schema_version = {profile.schema_version}",
        f"found = {_toml_value(profile.found)}",
        f"users = {_toml_value(profile.users or 0)}",
        f"machine = {_toml_value(profile.machine)}",
        f"budget = {_toml_value(profile.budget)}",
        "",
    ]
    for variant, entries in profile.variants.items():
        for workload, entry in entries.items():
            lines.append(f'[variants.{variant}."{workload}"]')
            for key, value in entry.model_dump(exclude_none=True).items():
                lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
    return "\n".join(lines)
