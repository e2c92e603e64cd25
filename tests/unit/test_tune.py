"""The tuner's search: coordinate descent from stock, a move only for a real gain."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from loadlab.core.profiles import load_tuned
from loadlab.core.registry import KnobValue
from loadlab.orchestration.tune import (
    Trial,
    Tuner,
    TuneReport,
    TuneResult,
    descend,
    judge,
    relevant_knobs,
    write_profile,
)


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


def _pair(start: float, candidate: float) -> tuple[Trial, Trial]:
    return (
        Trial(knobs={"w": 1}, changed="", cell_id="a", throughput_rps=start, valid=True),
        Trial(knobs={"w": 2}, changed="", cell_id="b", throughput_rps=candidate, valid=True),
    )


def test_a_winner_is_kept_only_if_every_fresh_pair_favours_it_beyond_the_min_gain() -> None:
    kept = judge({"w": 2}, [_pair(1000, 1100), _pair(1000, 1080)], 0.03)
    assert kept.confirmed and kept.ratios == [1.1, 1.08] and 1.08 < kept.ratio < 1.1
    split = judge({"w": 2}, [_pair(1000, 1300), _pair(1000, 990)], 0.03)
    assert not split.confirmed and "not every pair" in split.reason
    small = judge({"w": 2}, [_pair(1000, 1010), _pair(1000, 1020)], 0.03)
    assert not small.confirmed and "within 3%" in small.reason
    broken = judge(
        {"w": 2}, [_pair(1000, 1200), (_pair(1, 1)[0], Trial(knobs={}, changed=""))], 0.03
    )
    assert not broken.confirmed and "invalid or not run" in broken.reason


class FakeTuner(Tuner):
    """The tuner's bookkeeping over a synthetic machine: the descent sees a lucky cell for
    threads=128 that fresh cells do not repeat (the winner's curse)."""

    def __init__(self, lucky: dict[str, float], fresh: dict[str, float]) -> None:
        budget = SimpleNamespace(keepalive_s=5, db_connections=64)
        run = SimpleNamespace(config=SimpleNamespace(budget=budget))
        super().__init__(run, SimpleNamespace(topology={"app_workers": 2}), 64, 0.03, 2)  # type: ignore[arg-type]
        self.lucky, self.fresh, self.order_seen = lucky, fresh, []

    def trial(self, variant: str, workload: str, knobs: dict, changed: str) -> Trial:  # type: ignore[override]
        key = f"threads={knobs['threads']}"
        self.order_seen.append(changed)
        table = self.fresh if changed.startswith("confirm") else self.lucky
        return Trial(
            knobs=knobs, changed=changed, cell_id=changed or "start", throughput_rps=table[key], p99_ms=1.0,
            valid=True,
        )  # fmt: skip


def test_an_unconfirmed_winner_falls_back_to_stock_and_every_cell_is_counted() -> None:
    lucky = {"threads=10": 1000.0, "threads=32": 1010.0, "threads=128": 1200.0}
    tuner = FakeTuner(lucky, fresh={"threads=10": 1000.0, "threads=128": 990.0})
    result = tuner.tune("flask-sync", "json")
    check = result.confirmation
    assert check is not None and check.candidate["threads"] == 128 and not check.confirmed
    assert result.winner["threads"] == 10 and result.winner["keepalive_s"] == 5
    assert result.cells == len(result.trials) + 4
    # ABBA: start first in the first pair, the candidate first in the second
    confirming = [c for c in tuner.order_seen if c.startswith("confirm")]
    assert confirming == [
        "confirm start 1", "confirm candidate 1", "confirm candidate 2", "confirm start 2",
    ]  # fmt: skip


def test_a_confirmed_winner_reports_its_fresh_figures_not_the_lucky_one() -> None:
    lucky = {"threads=10": 1000.0, "threads=32": 1010.0, "threads=128": 1500.0}
    tuner = FakeTuner(lucky, fresh={"threads=10": 1000.0, "threads=128": 1200.0})
    result = tuner.tune("flask-sync", "json")
    assert result.confirmation is not None and result.confirmation.confirmed
    assert result.winner["threads"] == 128
    assert result.winner_throughput_rps == 1200.0 and result.stock_throughput_rps == 1000.0


def test_confirming_the_profile_alone_searches_nothing() -> None:
    tuner = FakeTuner({}, fresh={"threads=10": 1000.0, "threads=128": 1100.0})
    result = tuner.confirm_only("flask-sync", "io", {"threads": 128})
    assert result.trials == [] and result.cells == 4
    assert result.confirmation is not None and result.confirmation.confirmed


def test_confirmed_only_entries_keep_the_search_on_record(tmp_path: Path) -> None:
    def report(run_id: str, trials: list[Trial], cells: int) -> TuneReport:
        result = TuneResult(
            variant="flask-sync", workload="io", users=64, trials=trials, winner={"threads": 128},
            winner_throughput_rps=1.0, winner_p99_ms=1.0, stock_throughput_rps=1.0, cells=cells,
            seconds=10.0,
        )  # fmt: skip
        return TuneReport(run_id=run_id, users=64, min_gain=0.03, budget={}, results=[result])

    path = tmp_path / "tuned.toml"
    write_profile(report("search", [Trial(knobs={}, changed="")], 7), path)
    write_profile(report("check", [], 4), path)
    entry = load_tuned(path).entry("flask-sync", "io")
    assert entry is not None and entry.cells == 11 and entry.tune_run == "search+check"
