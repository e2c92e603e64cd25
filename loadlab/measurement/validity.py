"""The rules that make a cell invalid, each with a reason a reader can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from loadlab.core.config import Validity as Thresholds
from loadlab.core.results import ComponentUsage, Validity

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
    faults: Sequence[str] = (),
    swarm: Mapping[str, Any] | None = None,
) -> Validity:
    """`swarm` is measurement.json's record of how the Locust workers were sized
    (loadlab.deployments.swarm.SwarmSizing): a saturated worker says whether auto sizing had run out."""
    # a fault (app died, worker lost, database restarted) is the root cause: it comes first
    reasons: list[str] = list(faults)
    warnings: list[str] = []
    total = requests
    if total == 0:
        reasons.append("no request completed in the measured window")
    elif errors / total > thresholds.max_error_rate:
        reasons.append(
            f"error rate {errors / total:.1%} exceeds {thresholds.max_error_rate:.0%} "
            f"({errors} of {total} requests failed)"
        )
    if target_rate and achieved_rps < target_rate * (1 - thresholds.rate_tolerance):
        reasons.append(
            f"target rate not held: {achieved_rps:.0f} of {target_rate:.0f} req/s "
            f"({achieved_rps / target_rate:.0%})"
        )
    if target_rate and backlog:
        warnings.append(
            f"{backlog} scheduled requests were never sent: their users were still waiting "
            "for earlier answers when the cell ended (their latency is not in the percentiles)"
        )
    for component in LOADGEN_COMPONENTS:
        usage = resources.get(component)
        if usage and usage.busiest_process_cpu_mean_percent > thresholds.loadgen_cpu_percent:
            reasons.append(
                f"load generator saturated: a {component} process averaged "
                f"{usage.busiest_process_cpu_mean_percent:.0f}% of a core "
                f"(limit {thresholds.loadgen_cpu_percent:.0f}%)"
                + (_at_most(swarm) if component == "locust-worker" else "")
            )
    machine = resources.get("machine")
    if (
        machine
        and cpu_count
        and machine.cpu_mean_percent > thresholds.machine_cpu_percent * cpu_count
    ):
        warnings.append(
            f"machine CPU saturated: {machine.cpu_mean_percent / cpu_count:.0f}% of "
            f"{cpu_count} cores on average; the app, database and load generator competed"
        )
    if workers_expected and workers_final < workers_expected:
        warnings.append(
            f"only {workers_final} of {workers_expected} Locust workers sent a final report; "
            "the last seconds of the others are missing"
        )
    return Validity(valid=not reasons, reasons=reasons, warnings=warnings)


def _at_most(swarm: Mapping[str, Any] | None) -> str:
    """Why a saturated worker was not given company: auto sizing had used every core."""
    if not swarm or swarm.get("sizing") != "auto":
        return ""
    workers, most = int(swarm.get("workers") or 0), int(swarm.get("most") or 0)
    if workers < most:
        return ""
    return f", {SATURATED_AT_MOST}: {workers}, one per core"


SATURATED_AT_MOST = "even with the most Locust workers auto sizing runs"
