from loadlab.core.config import Validity as Thresholds
from loadlab.core.results import ComponentUsage
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
    assert not result.valid and "error rate" in result.reasons[0]


def test_open_model_rate_not_held_is_invalid() -> None:
    assert verdict(target_rate=100.0, achieved_rps=96.0).valid
    result = verdict(target_rate=100.0, achieved_rps=94.0)
    assert not result.valid and "target rate not held" in result.reasons[0]


def test_saturated_load_generator_is_invalid() -> None:
    assert verdict(resources={"locust-worker": usage(85)}).valid
    result = verdict(resources={"locust-worker": usage(95)})
    assert not result.valid and "load generator saturated" in result.reasons[0]


def test_machine_saturation_is_a_warning() -> None:
    result = verdict(resources={"machine": usage(100, total=196)})
    assert result.valid
    assert "machine CPU saturated" in result.warnings[0]


def test_no_requests_is_invalid() -> None:
    assert not verdict(requests=0).valid


def test_missing_final_worker_report_is_a_warning() -> None:
    result = verdict(workers_final=1)
    assert result.valid and "final report" in result.warnings[0]
