from loadlab.core.config import RunConfig
from loadlab.core.results import CellResult, CellSpec, Latency, LoadLevel, Validity
from loadlab.measurement.analysis import capacity, capacity_ratios, component_usage
from loadlab.orchestration.runner import find_capacity


def step(variant: str, rate: float, achieved: float, p99: float, errors: int = 0) -> CellResult:
    load = LoadLevel(model="open", users=64, rate=rate)
    return CellResult(
        spec=CellSpec(
            cell_id=f"{variant}-{rate}",
            order=1,
            variant=variant,
            workload="db-read",
            load=load,
            repeat=1,
            duration_s=10,
            warmup_s=2,
            phase="capacity",
        ),
        requests=int(achieved * 10),
        errors=errors,
        error_rate=errors / (achieved * 10),
        measured_s=10,
        throughput_rps=achieved,
        target_rate=rate,
        rate_held=achieved >= rate * 0.95,
        latency=Latency(count=int(achieved * 10), p99=p99),
        validity=Validity(),
    )


def test_capacity_is_the_last_rate_held_within_the_slo() -> None:
    config = RunConfig(capacity={"enabled": True, "slo_p99_ms": 100})
    cells = [
        step("flask-sync", 200, 199, 20),
        step("flask-sync", 400, 398, 60),
        step("flask-sync", 800, 610, 2500),  # not held, p99 explodes
        step("fastapi-async", 200, 200, 15),
        step("fastapi-async", 400, 399, 40),
        step("fastapi-async", 800, 790, 90),
        step("fastapi-async", 1600, 1590, 400),
    ]
    found = {c.variant: c for c in capacity(cells, config)}
    assert found["flask-sync"].sustained_rps == 398
    assert "800" in found["flask-sync"].limited_by and "SLO" in found["flask-sync"].limited_by
    assert found["fastapi-async"].sustained_rps == 790
    [ratio] = capacity_ratios(list(found.values()))
    assert ratio.basis == "capacity"
    assert abs(ratio.estimate.median - 790 / 398) < 1e-9


def test_a_step_over_the_error_limit_ends_the_search() -> None:
    config = RunConfig(capacity={"enabled": True, "slo_p99_ms": 100, "max_error_rate": 0.01})
    cells = [step("flask-gevent", 200, 200, 10), step("flask-gevent", 400, 400, 10, errors=100)]
    [found] = capacity(cells, config)
    assert found.sustained_rps == 200 and "error rate" in found.limited_by


def test_a_search_that_stepped_down_reports_the_highest_rate_that_held() -> None:
    config = RunConfig(capacity={"enabled": True, "slo_p99_ms": 100})
    cells = [
        step("flask-sync", 200, 150, 900),
        step("flask-sync", 133.3, 130, 300),
        step("flask-sync", 88.9, 88, 40),
    ]
    [found] = capacity(cells, config)
    assert found.sustained_rps == 88


def test_component_usage_sums_processes_per_sample(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "resources.csv"
    path.write_text(
        "time,component,pid,cpu_percent,rss_bytes\n"
        "10.0,app,1,50,100\n10.0,app,2,30,100\n"
        "10.5,app,1,70,100\n10.5,app,2,10,100\n"
        "10.5,locust-worker,3,95,50\n11.0,locust-worker,3,99,50\n"
        "99.0,app,1,100,100\n"  # outside the measured window
    )
    usage = component_usage(path, start=9.9, stop=11.0)
    assert usage["app"].cpu_mean_percent == 80.0
    assert usage["app"].cpu_max_percent == 80.0
    assert usage["app"].rss_max_bytes == 200
    assert usage["app"].busiest_process_cpu_mean_percent == 60.0
    assert usage["locust-worker"].busiest_process_cpu_mean_percent == 97.0


def test_the_search_brackets_the_capacity_then_bisects_it() -> None:
    search = RunConfig(
        capacity={"enabled": True, "start_rate": 200, "growth": 1.4, "refine_steps": 3}
    ).capacity
    tried: list[float] = []

    def holds(rate: float) -> bool:
        tried.append(rate)
        return rate <= 1000

    held, broke = find_capacity(holds, search)
    assert held is not None and broke is not None
    # the geometric steps alone stop at 768 held / 1076 broken; three bisections close in
    assert 768 < held <= 1000 < broke < 1076
    assert broke / held < 1.4 ** (1 / 8) + 1e-9
    assert len(tried) == 6 + 3


def test_a_first_step_that_breaks_steps_down_then_bisects() -> None:
    search = RunConfig(capacity={"enabled": True, "start_rate": 1000, "growth": 2}).capacity
    held, broke = find_capacity(lambda rate: rate <= 300, search)
    assert held is not None and broke is not None
    assert 250 <= held <= 300 < broke <= 500


def test_without_refinement_the_search_is_the_geometric_steps() -> None:
    search = RunConfig(
        capacity={"enabled": True, "start_rate": 100, "growth": 2, "refine_steps": 0}
    ).capacity
    assert find_capacity(lambda rate: rate <= 500, search) == (400, 800)
