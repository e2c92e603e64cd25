"""`--precision` / `--budget`: when a run has measured enough blocks."""

from __future__ import annotations

import pytest

from loadlab.core.results import Estimate, Ratio, RatioPrecision
from loadlab.measurement.precision import (
    MIN_BLOCKS,
    assess,
    min_blocks,
    parse_duration,
    parse_fraction,
    report,
    stop_reason,
)


def ratio(low: float, mid: float, high: float, n: int = 3, basis: str = "throughput") -> Ratio:
    return Ratio(
        workload="db-read",
        load_label="closed-64u",
        numerator="fastapi-async",
        denominator="flask-sync",
        basis=basis,  # type: ignore[arg-type]
        estimate=Estimate(median=mid, ci_low=low, ci_high=high, n=n),
    )


def reached(*flags: bool) -> list[RatioPrecision]:
    return [
        RatioPrecision(
            workload="w", load_label="l", numerator="a", denominator="b", half_width=0.01,
            reached=flag,
        )
        for flag in flags
    ]  # fmt: skip


def test_assess_measures_the_larger_side_of_each_interval() -> None:
    [p] = assess([ratio(1.9, 2.0, 2.08)], target=0.05)
    assert p.half_width == pytest.approx(0.05) and p.reached
    [p] = assess([ratio(1.8, 2.0, 2.04)], target=0.05)
    assert p.half_width == pytest.approx(0.1) and not p.reached


def test_a_ratio_without_an_interval_has_not_reached_any_precision() -> None:
    [p] = assess([ratio(2.0, 2.0, 2.0, n=1)], target=0.5)
    assert p.half_width is None and not p.reached


def test_capacity_ratios_are_not_headline_ratios_for_precision() -> None:
    assert assess([ratio(1, 2, 3, basis="capacity")], target=0.05) == []


def test_precision_stops_only_after_the_minimum_blocks() -> None:
    assert stop_reason(reached(True), [10, 10], budget_s=None) is None
    assert stop_reason(reached(True), [10, 10, 10], budget_s=None) == "precision reached"
    assert stop_reason(reached(True, False), [10, 10, 10], budget_s=None) is None


def test_budget_stops_before_a_block_that_would_not_fit() -> None:
    # three blocks of 100 s: a fourth would end at 400 s
    assert stop_reason(reached(False), [100, 100, 100], budget_s=399) == "budget spent"
    assert stop_reason(reached(False), [100, 100, 100], budget_s=400) is None
    # the budget is spent even before the minimum of blocks
    assert stop_reason(reached(False), [300], budget_s=500) == "budget spent"


def test_precision_wins_when_both_happen_and_the_block_limit_caps_a_run() -> None:
    assert stop_reason(reached(True), [100] * 3, budget_s=250) == "precision reached"
    assert stop_reason(reached(False), [1] * 7, budget_s=None, most=7) == "block limit"


def test_a_run_without_ratios_stops_at_the_minimum() -> None:
    assert stop_reason([], [5] * MIN_BLOCKS, budget_s=None) == "no ratio"


def test_min_blocks_is_at_least_three_or_the_repeats() -> None:
    assert min_blocks(1) == 3 and min_blocks(5) == 5


def test_report_records_a_run_still_going_as_interrupted() -> None:
    r = report(0.03, reached(True), [10.0, 12.0], budget_s=900, least=3, most=50, reason=None)
    assert (r.blocks_run, r.elapsed_s, r.stopped_because) == (2, 22.0, "interrupted")


@pytest.mark.parametrize(
    ("text", "value"), [("3%", 0.03), ("0.03", 0.03), ("2.5 %", 0.025), ("5", 0.05)]
)
def test_parse_fraction(text: str, value: float) -> None:
    assert parse_fraction(text) == pytest.approx(value)


@pytest.mark.parametrize(
    ("text", "seconds"), [("15m", 900), ("1h30m", 5400), ("90", 90), ("90s", 90), ("1.5h", 5400)]
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "0", "-5m"])
def test_parse_duration_refuses_what_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("text", ["abc", "0%", "100%", "150"])
def test_parse_fraction_refuses_what_is_not_a_precision(text: str) -> None:
    with pytest.raises(ValueError):
        parse_fraction(text)
