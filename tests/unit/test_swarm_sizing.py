"""Auto sizing of the Locust swarm: one worker, one more only when a worker saturates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadlab.core.config import RunConfig
from loadlab.core.config import Validity as Thresholds
from loadlab.core.results import CellSpec, ComponentUsage, LoadLevel
from loadlab.core.verdicts import Finding, Verdict
from loadlab.deployments.swarm import (
    SwarmSizing,
    fixed_workers,
    next_worker_count,
    swarm_environment,
)
from loadlab.measurement.validity import SATURATED_AT_MOST, judge


def test_a_worker_under_the_threshold_is_kept() -> None:
    assert next_worker_count(1, 89.0, 90.0, most=2) is None
    assert next_worker_count(1, 90.0, 90.0, most=2) is None  # the validity limit is "over"


def test_a_saturated_worker_gets_company_until_the_cores_run_out() -> None:
    assert next_worker_count(1, 95.0, 90.0, most=2) == 2
    assert next_worker_count(2, 99.0, 90.0, most=2) is None
    assert next_worker_count(2, 99.0, 90.0, most=4) == 3


def test_no_measurement_decides_nothing() -> None:
    assert next_worker_count(1, None, 90.0, most=8) is None


def test_auto_starts_with_one_and_remembers_what_a_group_needed() -> None:
    sizing = SwarmSizing(fixed=None, most=2, threshold=90.0)
    assert sizing.auto and sizing.first("a") == 1
    assert sizing.after("a", 1, 97.0) == 2  # run the cell again with two
    assert sizing.after("a", 2, 60.0) is None  # that stands
    assert sizing.first("a") == 2  # the next repeat starts with what it needed
    assert sizing.first("b") == 1  # another group starts from one
    assert sizing.after("b", 1, 40.0) is None and sizing.first("b") == 1


def test_a_forced_count_is_never_changed() -> None:
    sizing = SwarmSizing.from_config(3, 90.0, cpus={0, 1})
    assert not sizing.auto and sizing.first("a") == 3
    assert sizing.after("a", 3, 100.0) is None and sizing.first("a") == 3
    assert sizing.record(3, [])["sizing"] == "fixed"


def test_most_is_the_load_generators_cores() -> None:
    assert SwarmSizing.from_config("auto", 90.0, cpus={2, 3, 5}).most == 3
    assert fixed_workers("auto", {1}) == 1 and fixed_workers(4, {1}) == 4


def test_auto_is_the_default_and_presets_use_it() -> None:
    from loadlab.core.config import load_config

    assert RunConfig().locust_workers == "auto"
    for preset in ("quick", "standard", "full", "soak"):
        assert load_config(preset).locust_workers == "auto"
    assert load_config("quick", overrides={"locust_workers": "2"}).locust_workers == 2


@pytest.mark.parametrize("bad", [0, -1, "many", 1.5, True])
def test_a_worker_count_is_a_positive_number_or_auto(bad: object) -> None:
    from loadlab.core.errors import LabError

    with pytest.raises(LabError, match="locust_workers"):
        from loadlab.core.config import load_config

        load_config("quick", overrides={"locust_workers": bad})


def test_the_record_reaches_the_master_through_the_environment() -> None:
    sizing = SwarmSizing(fixed=None, most=2, threshold=90.0)
    record = sizing.record(2, [{"workers": 1, "busiest_worker_cpu_percent": 97.0}])
    env = swarm_environment(
        workload="db",
        load=LoadLevel(users=64),
        users_seeded=10,
        warmup_s=1,
        duration_s=2,
        measurement_out=Path("m.json"),
        swarm=record,
    )

    assert json.loads(env["LOADLAB_SWARM"])["workers"] == 2
    assert "LOADLAB_SWARM" not in swarm_environment(
        workload="db",
        load=LoadLevel(users=64),
        users_seeded=10,
        warmup_s=1,
        duration_s=2,
        measurement_out=Path("m.json"),
    )


def _saturated(swarm: dict[str, object] | None) -> list[Finding]:
    worker = ComponentUsage(
        cpu_mean_percent=97,
        cpu_max_percent=99,
        rss_max_bytes=1,
        processes=2,
        busiest_process_cpu_mean_percent=97,
    )
    return judge(
        requests=1000,
        errors=0,
        target_rate=None,
        achieved_rps=100.0,
        resources={"locust-worker": worker},
        cpu_count=2,
        workers_expected=2,
        workers_final=2,
        thresholds=Thresholds(),
        swarm=swarm,
    ).reasons


def test_saturated_at_the_most_says_so_and_stays_invalid() -> None:
    [reason] = _saturated({"sizing": "auto", "workers": 2, "most": 2})
    assert reason.code is Verdict.LOADGEN_SATURATED_AT_MOST and reason.code.loadgen_saturated
    assert (
        reason.message.startswith("load generator saturated")
        and SATURATED_AT_MOST in reason.message
    )
    assert reason.message.endswith(f", {SATURATED_AT_MOST}: 2, one per core")
    [reason] = _saturated({"sizing": "fixed", "workers": 2, "most": 2})
    assert reason.code is Verdict.LOADGEN_SATURATED
    assert (
        reason.message.startswith("load generator saturated")
        and SATURATED_AT_MOST not in reason.message
    )
    [reason] = _saturated(None)
    assert reason.code is Verdict.LOADGEN_SATURATED and SATURATED_AT_MOST not in reason.message


def test_a_capacity_search_shares_one_group_a_matrix_level_does_not() -> None:
    from loadlab.deployments.local import sizing_group

    def spec(phase: str, load: LoadLevel, repeat: int = 1) -> CellSpec:
        return CellSpec(
            cell_id="x",
            order=1,
            variant="fastapi-async",
            workload="db",
            load=load,
            repeat=repeat,
            duration_s=1,
            warmup_s=0,
            phase=phase,  # type: ignore[arg-type]
        )

    open_a, open_b = LoadLevel(model="open", rate=100), LoadLevel(model="open", rate=200)
    assert sizing_group(spec("capacity", open_a)) == sizing_group(spec("capacity", open_b))
    assert sizing_group(spec("matrix", LoadLevel(users=8))) != sizing_group(
        spec("matrix", LoadLevel(users=64))
    )
    assert sizing_group(spec("matrix", LoadLevel(users=8), 1)) == sizing_group(
        spec("matrix", LoadLevel(users=8), 2)
    )
