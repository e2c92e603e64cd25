"""The rules that make a cell invalid, each with a reason a reader can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadlab.core.config import Validity as Thresholds
from loadlab.core.results import ComponentUsage, Validity
from loadlab.core.verdicts import SATURATED_AT_MOST, Finding, Verdict

__all__ = ["LOADGEN_COMPONENTS", "SATURATED_AT_MOST", "judge"]

LOADGEN_COMPONENTS = ("locust-master", "locust-worker")


def judge(
    *,
    requests: int,
    errors: int,
    target_rate: float | None,
    achieved_rps: float,
    resources: dict[str, ComponentUsage],
    cpu_count: int,
    workers_expected: int,
    workers_final: int,
    thresholds: Thresholds,
    backlog: int = 0,
    faults: Sequence[Finding] = (),
    swarm: Mapping[str, Any] | None = None,
) -> Validity:
    """`swarm` is measurement.json's record of how the Locust workers were sized
    (loadlab.deployments.swarm.SwarmSizing): a saturated worker says whether auto sizing had run out."""
    # a fault (app died, worker lost, database restarted) is the root cause: it comes first
    reasons: list[Finding] = list(faults)
    warnings: list[Finding] = []
    total = requests
    if total == 0:
        reasons.append(Finding.of(Verdict.NO_REQUESTS))
    elif errors / total > thresholds.max_error_rate:
        reasons.append(
            Finding.of(
                Verdict.ERROR_RATE,
                error_rate=errors / total,
                limit=thresholds.max_error_rate,
                errors=errors,
                requests=total,
            )
        )
    if target_rate and achieved_rps < target_rate * (1 - thresholds.rate_tolerance):
        reasons.append(
            Finding.of(
                Verdict.RATE_NOT_HELD,
                achieved_rps=achieved_rps,
                target_rate=target_rate,
                held=achieved_rps / target_rate,
            )
        )
    if target_rate and backlog:
        warnings.append(Finding.of(Verdict.BACKLOG, backlog=backlog))
    for component in LOADGEN_COMPONENTS:
        usage = resources.get(component)
        if usage and usage.busiest_process_cpu_mean_percent > thresholds.loadgen_cpu_percent:
            figures: dict[str, str | float] = {
                "component": component,
                "cpu_percent": usage.busiest_process_cpu_mean_percent,
                "limit_percent": thresholds.loadgen_cpu_percent,
            }
            most = _at_most(swarm) if component == "locust-worker" else None
            reasons.append(
                Finding.of(Verdict.LOADGEN_SATURATED, **figures)
                if most is None
                else Finding.of(Verdict.LOADGEN_SATURATED_AT_MOST, **figures, workers=most)
            )
    machine = resources.get("machine")
    if (
        machine
        and cpu_count
        and machine.cpu_mean_percent > thresholds.machine_cpu_percent * cpu_count
    ):
        warnings.append(
            Finding.of(
                Verdict.MACHINE_SATURATED,
                core_percent=machine.cpu_mean_percent / cpu_count,
                cpu_count=cpu_count,
            )
        )
    if workers_expected and workers_final < workers_expected:
        warnings.append(
            Finding.of(
                Verdict.FINAL_REPORTS_MISSING,
                workers_final=workers_final,
                workers_expected=workers_expected,
            )
        )
    return Validity(valid=not reasons, reasons=reasons, warnings=warnings)


def _at_most(swarm: Mapping[str, Any] | None) -> int | None:
    """The worker count when auto sizing had used every core (so a saturated worker was not
    given company); None otherwise."""
    if not swarm or swarm.get("sizing") != "auto":
        return None
    workers, most = int(swarm.get("workers") or 0), int(swarm.get("most") or 0)
    return workers if workers >= most else None
