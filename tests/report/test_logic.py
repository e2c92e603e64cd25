"""The rules a report applies, on hand-made data: headline choice, verdicts, raw files."""

from __future__ import annotations

from pathlib import Path

from hdrh.histogram import HdrHistogram

from loadlab.core.results import Estimate, LoadLevel
from loadlab.report.claims import verdict
from loadlab.report.compare import judge
from loadlab.report.rawdata import read_resources, unit_in_ms
from loadlab.report.runs import load_run
from loadlab.report.tables import fmt_ms, fmt_ratio, fmt_rps, headline_load, workload_headline


def est(median: float, low: float, high: float) -> Estimate:
    return Estimate(median=median, ci_low=low, ci_high=high, n=3)


def test_a_claim_is_consistent_when_its_range_meets_the_interval() -> None:
    assert verdict(5.0, 7.0, 6.5, 8.0) == "consistent"
    assert verdict(5.0, 7.0, 7.0, 7.5) == "consistent"  # touching counts
    assert verdict(5.0, 7.0, 2.9, 3.2) == "lower"
    assert verdict(1.8, 2.2, 2.3, 2.6) == "higher"
    assert verdict(None, 1.0, 0.8, 1.2) == "consistent"  # "Flask+gevent ahead"
    assert verdict(None, 1.0, 1.1, 1.3) == "higher"


def test_a_rerun_ratio_is_judged_against_the_original_interval() -> None:
    before = est(2.0, 1.8, 2.2)
    assert judge(before, est(2.1, 1.9, 2.3)) == "reproduced"
    assert judge(before, est(2.3, 2.1, 2.5)) == "overlaps"
    assert judge(before, est(2.6, 2.4, 2.8)) == "higher"
    assert judge(before, est(1.2, 1.1, 1.3)) == "lower"


def test_headline_prefers_capacity_and_otherwise_the_top_closed_level(run_dir: Path) -> None:
    run = load_run(run_dir)
    summary = run.summary
    capacity_workloads = {c.workload for c in summary.capacity}
    for workload in run.workloads:
        head = workload_headline(summary, workload)
        if workload in capacity_workloads:
            assert head.basis == "capacity"
            assert {r.basis for r in head.ratios} == {"capacity"}
        else:
            top = headline_load(summary, workload)
            assert top == max(
                (a.load for a in summary.aggregates if a.workload == workload),
                key=lambda lv: lv.users,
            )
            assert {r.load_label for r in head.ratios} == {top.label}
    assert LoadLevel(users=8).label == "closed-8u"


def test_formatting_keeps_the_figures_readable() -> None:
    assert fmt_rps(2834.05) == "2,834" and fmt_rps(12.34) == "12.3"
    assert fmt_ms(164.9) == "165" and fmt_ms(15.1) == "15.1" and fmt_ms(5.055) == "5.05"
    assert fmt_ratio(1.3333) == "1.33×" and fmt_rps(None) == "—"


def test_resources_sum_each_component_over_its_processes(tmp_path: Path) -> None:
    csv = tmp_path / "resources.csv"
    csv.write_text(
        "time,component,pid,cpu_percent,rss_bytes\n"
        "100.00,app,1,50,10\n100.02,app,2,40,10\n100.01,postgres,3,20,10\n"
        "101.00,app,1,60,10\n101.03,app,2,45,10\n101.01,postgres,3,25,10\n"
    )
    series = {s.component: s for s in read_resources(csv)}
    assert series["app"].cpu_percent == [90.0, 105.0]
    assert series["app"].seconds == [0.0, 1.0]
    assert series["postgres"].cpu_percent == [20.0, 25.0]
    assert read_resources(tmp_path / "missing.csv") == []


def test_histogram_units_are_recognised_from_the_cell_median() -> None:
    hist = HdrHistogram(1, 60_000_000, 3)
    hist.record_value(5_000, 10)  # 5 ms in microseconds
    assert unit_in_ms(hist, 5.0) == 1e-3
    assert unit_in_ms(hist, 5000.0) == 1.0


def test_without_intervals_a_change_is_not_judged() -> None:
    one = Estimate(median=1.2, ci_low=1.2, ci_high=1.2, n=1)
    assert judge(one, Estimate(median=1.2, ci_low=1.2, ci_high=1.2, n=1)) == "reproduced"
    assert judge(one, Estimate(median=1.5, ci_low=1.5, ci_high=1.5, n=1)) == "no CI"
    assert judge(one, est(1.25, 1.1, 1.4)) == "reproduced"
    assert judge(one, est(1.6, 1.5, 1.7)) == "higher"
