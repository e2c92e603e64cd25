"""Ratios from paired cells: the variants measured in the same block form a pair."""

from __future__ import annotations

import math

import pytest

from loadlab.core.results import CellResult, CellSpec, Latency, LoadLevel, Validity
from loadlab.core.verdicts import Verdict
from loadlab.measurement.analysis import noise_floor, ratio_pairs, ratios
from loadlab.measurement.stats import BLOCK_BOOTSTRAP, PAIRED_T


def cell(
    variant: str,
    repeat: int,
    rps: float,
    workload: str = "db-read",
    users: int = 64,
    valid: bool = True,
) -> CellResult:
    load = LoadLevel(users=users)
    spec = CellSpec(
        cell_id=f"{variant}-{workload}-{load.label}-r{repeat}",
        order=repeat,
        variant=variant,
        workload=workload,
        load=load,
        repeat=repeat,
        duration_s=3,
        warmup_s=1,
    )
    return CellResult(
        spec=spec,
        requests=int(rps * 3),
        errors=0,
        error_rate=0.0,
        measured_s=3,
        throughput_rps=rps,
        latency=Latency(),
        validity=Validity(valid=valid, reasons=[] if valid else ["error rate too high"]),
    )


def test_block_effects_cancel_in_the_pair() -> None:
    # each block moves both variants by the same factor: the per-block ratio is exactly 2
    cells = []
    for repeat, machine in enumerate([1.0, 0.7, 1.3, 0.9], 1):
        cells += [
            cell("fastapi-async", repeat, 2000 * machine),
            cell("flask-sync", repeat, 1000 * machine),
        ]
    [r] = ratios(cells)
    assert r.estimate.median == pytest.approx(2.0)
    assert r.estimate.ci_low == pytest.approx(2.0) and r.estimate.ci_high == pytest.approx(2.0)
    assert (r.method, r.blocks, r.unpaired_cells) == (PAIRED_T, 4, 0)


def test_a_block_missing_one_side_is_left_out_and_counted() -> None:
    cells = [
        cell("fastapi-async", 1, 2000),
        cell("flask-sync", 1, 1000),
        cell("fastapi-async", 2, 2100),
        cell("flask-sync", 2, 1000),
        cell("fastapi-async", 3, 2050),  # its flask-sync cell never finished
        cell("flask-sync", 4, 990),  # and this one's partner did not either
    ]
    [r] = ratios(cells)
    assert r.blocks == 2 and r.estimate.n == 2
    assert r.unpaired_cells == 2
    assert r.estimate.median == pytest.approx(math.sqrt(2.0 * 2.1))


def test_a_cell_without_throughput_cannot_be_paired() -> None:
    cells = [cell("fastapi-async", 1, 2000), cell("flask-sync", 1, 0.0)]
    cells += [cell("fastapi-async", 2, 2000), cell("flask-sync", 2, 1000)]
    [r] = ratios(cells)
    assert (r.blocks, r.unpaired_cells) == (1, 2)


def test_an_invalid_cell_in_a_pair_flags_the_ratio() -> None:
    cells = [cell("fastapi-async", 1, 2000), cell("flask-sync", 1, 1000, valid=False)]
    [r] = ratios(cells)
    assert r.flagged and "error rate too high" in r.flag_reasons[0].text
    [flag] = r.flag_reasons
    assert flag.source == cells[1].spec.cell_id and flag.code is Verdict.ERROR_RATE


def test_every_fastapi_variant_over_every_flask_variant_fastapi_async_first() -> None:
    names = ["flask-sync", "fastapi-sync", "flask-gevent", "fastapi-async", "fastapi-granian"]
    names += ["flask-granian", "fastapi-async#b"]
    pairs = ratio_pairs(names, calibrate="fastapi-async")
    tops = list(dict.fromkeys(t for t, _ in pairs))
    assert tops == ["fastapi-async", "fastapi-granian", "fastapi-sync"]
    assert {b for _, b in pairs} == {"flask-gevent", "flask-granian", "flask-sync"}
    assert len(pairs) == 9 and all("#" not in t + b for t, b in pairs)


def test_an_arm_with_knobs_of_its_own_is_a_variant_of_its_framework() -> None:
    pairs = ratio_pairs(["fastapi-async", "flask-sync", "flask-sync#threads64"])
    assert pairs == [("fastapi-async", "flask-sync"), ("fastapi-async", "flask-sync#threads64")]


def test_ratios_are_per_workload_and_load_and_the_method_is_recorded() -> None:
    cells = []
    for repeat in (1, 2, 3):
        for workload in ("json", "db-read"):
            cells += [
                cell("fastapi-async", repeat, 3000 + repeat, workload),
                cell("flask-gevent", repeat, 1000 + repeat, workload),
            ]
    found = ratios(cells, BLOCK_BOOTSTRAP)
    assert [(r.workload, r.method) for r in found] == [
        ("db-read", BLOCK_BOOTSTRAP),
        ("json", BLOCK_BOOTSTRAP),
    ]


def test_the_aa_arm_is_the_noise_floor_not_a_ratio() -> None:
    cells = []
    for repeat, (a, b) in enumerate([(1000, 1010), (990, 985), (1005, 1000)], 1):
        cells += [
            cell("fastapi-async", repeat, a),
            cell("fastapi-async#b", repeat, b),
            cell("flask-sync", repeat, 500),
        ]
    assert [(r.numerator, r.denominator) for r in ratios(cells, calibrate="fastapi-async")] == [
        ("fastapi-async", "flask-sync")
    ]
    assert noise_floor(cells, calibrate=None) == []
    [aa] = noise_floor(cells, calibrate="fastapi-async")
    assert (aa.numerator, aa.denominator, aa.blocks) == ("fastapi-async#b", "fastapi-async", 3)
    assert aa.estimate.ci_low < 1 < aa.estimate.ci_high
