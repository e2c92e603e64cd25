from loadlab.core.config import Validity as Thresholds
from loadlab.core.results import ComponentUsage
from loadlab.core.verdicts import Verdict
from loadlab.measurement.validity import judge


def usage(busiest: float, total: float | None = None) -> ComponentUsage:
    return ComponentUsage(
        cpu_mean_percent=total if total is not None else busiest,
        cpu_max_percent=busiest,
        rss_max_bytes=1,
        processes=1,
        busiest_process_cpu_mean_percent=busiest,
    )


def verdict(**overrides: object):
    arguments = {
        "requests": 1000,
        "errors": 0,
        "target_rate": None,
        "achieved_rps": 100.0,
        "resources": {},
        "cpu_count": 2,
        "workers_expected": 2,
        "workers_final": 2,
        "thresholds": Thresholds(),
    }
    arguments.update(overrides)
    return judge(**arguments)  # type: ignore[arg-type]


def test_a_clean_cell_is_valid() -> None:
    result = verdict()
    assert result.valid and not result.reasons and not result.warnings


def test_error_rate_over_one_percent_is_invalid() -> None:
    assert verdict(errors=10).valid  # exactly 1% is allowed
    result = verdict(errors=11)
    assert not result.valid and result.reasons[0].code is Verdict.ERROR_RATE
    assert result.reasons[0].message == "error rate 1.1% exceeds 1% (11 of 1000 requests failed)"


def test_open_model_rate_not_held_is_invalid() -> None:
    assert verdict(target_rate=100.0, achieved_rps=96.0).valid
    result = verdict(target_rate=100.0, achieved_rps=94.0)
    assert not result.valid and result.reasons[0].code is Verdict.RATE_NOT_HELD
    assert result.reasons[0].message == "target rate not held: 94 of 100 req/s (94%)"
    assert result.reasons[0].details == {"achieved_rps": 94.0, "target_rate": 100.0, "held": 0.94}


def test_saturated_load_generator_is_invalid() -> None:
    assert verdict(resources={"locust-worker": usage(85)}).valid
    result = verdict(resources={"locust-worker": usage(95)})
    assert not result.valid and result.reasons[0].code is Verdict.LOADGEN_SATURATED
    assert result.reasons[0].details["component"] == "locust-worker"
    assert result.reasons[0].message == (
        "load generator saturated: a locust-worker process averaged 95% of a core (limit 90%)"
    )


def test_machine_saturation_is_a_warning() -> None:
    result = verdict(resources={"machine": usage(100, total=196)})
    assert result.valid
    [warning] = result.warnings
    assert warning.code is Verdict.MACHINE_SATURATED
    assert warning.message.startswith("machine CPU saturated: 98% of 2 cores on average")


def test_no_requests_is_invalid() -> None:
    result = verdict(requests=0)
    assert not result.valid and [r.code for r in result.reasons] == [Verdict.NO_REQUESTS]
    assert result.reasons[0].message == "no request completed in the measured window"


def test_missing_final_worker_report_is_a_warning() -> None:
    result = verdict(workers_final=1)
    assert result.valid and result.warnings[0].code is Verdict.FINAL_REPORTS_MISSING
    assert "final report" in result.warnings[0].message


def test_a_backlog_is_a_warning_with_its_count() -> None:
    result = verdict(target_rate=100.0, achieved_rps=100.0, backlog=12)
    assert result.valid and [w.code for w in result.warnings] == [Verdict.BACKLOG]
    assert result.warnings[0].message.startswith("12 scheduled requests were never sent")


def test_every_finding_survives_a_round_trip_through_json() -> None:
    result = verdict(
        errors=500,
        target_rate=100.0,
        achieved_rps=50.0,
        resources={"locust-master": usage(99), "machine": usage(100, total=199)},
        workers_final=1,
    )
    assert [r.code for r in result.reasons] == [
        Verdict.ERROR_RATE,
        Verdict.RATE_NOT_HELD,
        Verdict.LOADGEN_SATURATED,
    ]
    assert [w.code for w in result.warnings] == [
        Verdict.MACHINE_SATURATED,
        Verdict.FINAL_REPORTS_MISSING,
    ]
    assert type(result).model_validate_json(result.model_dump_json()) == result
