"""The tuner's search: coordinate descent from stock, a move only for a real gain."""

from __future__ import annotations

from pathlib import Path

from loadlab.profiles import load_tuned
from loadlab.registry import KnobValue
from loadlab.tune import Trial, TuneReport, TuneResult, descend, relevant_knobs, write_profile


def synthetic(peak: dict[str, KnobValue], calls: list[dict[str, KnobValue]]):  # type: ignore[no-untyped-def]
    """Throughput 1000, +200 for each knob at its peak value."""

    def measure(knobs: dict[str, KnobValue], changed: str) -> Trial:
        calls.append(knobs)
        rps = 1000 + 200 * sum(knobs[k] == v for k, v in peak.items())
        return Trial(knobs=knobs, changed=changed, cell_id="c", throughput_rps=rps, valid=True)

    return measure


def test_descent_finds_each_knobs_peak_with_few_cells() -> None:
    calls: list[dict[str, KnobValue]] = []
    axes: dict[str, list[KnobValue]] = {"workers": [2, 1, 4], "threads": [10, 32, 128]}
    best, trials = descend(
        {"workers": 2, "threads": 10},
        axes,
        synthetic({"workers": 4, "threads": 128}, calls),
        min_gain=0.03,
    )
    assert best.knobs == {"workers": 4, "threads": 128}
    assert len(calls) == len(trials) == 5  # stock, 2 more workers, 2 more threads
    assert trials[0].knobs == {"workers": 2, "threads": 10}


def test_a_gain_inside_the_noise_keeps_the_stock_value() -> None:
    def measure(knobs: dict[str, KnobValue], changed: str) -> Trial:
        rps = 1010.0 if knobs["json"] == "orjson" else 1000.0  # +1%: noise
        return Trial(knobs=knobs, changed=changed, cell_id="c", throughput_rps=rps, valid=True)

    best, _ = descend({"json": "stdlib"}, {"json": ["stdlib", "orjson"]}, measure, 0.03)
    assert best.knobs == {"json": "stdlib"}


def test_invalid_or_skipped_trials_never_win() -> None:
    def measure(knobs: dict[str, KnobValue], changed: str) -> Trial:
        if knobs["pool_size"] == 64:
            return Trial(knobs=knobs, changed=changed, skipped="over budget")
        valid = knobs["pool_size"] != 32
        return Trial(
            knobs=knobs, changed=changed, cell_id="c", throughput_rps=9e9 if not valid else 1.0,
            valid=valid,
        )  # fmt: skip

    best, trials = descend({"pool_size": 10}, {"pool_size": [10, 32, 64]}, measure, 0.03)
    assert best.knobs == {"pool_size": 10} and len(trials) == 3


def test_database_knobs_are_not_searched_for_framework_only_workloads() -> None:
    assert "pool_size" not in relevant_knobs("fastapi-async", "json")
    assert "asyncpg_reset" not in relevant_knobs("fastapi-async", "io-50")
    assert "asyncpg_reset" in relevant_knobs("fastapi-async", "db-read")
    assert "keepalive_s" not in relevant_knobs("flask-sync", "db")  # one value for all


def test_winners_are_written_with_the_machine_and_read_back(tmp_path: Path) -> None:
    report = TuneReport(
        run_id="r1",
        users=64,
        min_gain=0.03,
        budget={"db_connections": 64, "keepalive_s": 5},
        results=[
            TuneResult(
                variant="flask-sync", workload="io", users=64, trials=[],
                winner={"threads": 128, "http_parser": "fast", "json": "orjson"},
                winner_throughput_rps=1200.0, winner_p99_ms=80.0, stock_throughput_rps=380.0,
                cells=7, seconds=90.0,
            )
        ],
    )  # fmt: skip
    path = write_profile(report, tmp_path / "tuned.toml")
    profile = load_tuned(path)
    entry = profile.entry("flask-sync", "io-50")
    assert entry is not None and entry.knobs["threads"] == 128 and entry.tune_run == "r1"
    assert profile.machine["cpu_count"] >= 1 and profile.budget["db_connections"] == 64
