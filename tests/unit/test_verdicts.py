"""Verdicts as codes: readers decide by the code, never by the words, and results written
before codes existed (the published reports) still load with the same words and a code."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab.core.config import RunConfig
from loadlab.core.results import (
    CellResult,
    CellSpec,
    Estimate,
    Latency,
    LoadLevel,
    Manifest,
    Ratio,
    Summary,
    Validity,
    read_summary,
)
from loadlab.core.verdicts import Finding, Flag, Verdict
from loadlab.measurement.analysis import capacity, capacity_ratios, caveats, ratios, step_verdict
from loadlab.orchestration.regime_map import map_ratio

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = sorted((REPO / "reports").glob("**/summary.json"))

# figures for every template, so each code's message can be written and read back
SAMPLE_DETAILS: dict[Verdict, dict[str, str | int | float | bool]] = {
    Verdict.NO_REQUESTS: {},
    Verdict.ERROR_RATE: {"error_rate": 0.05, "limit": 0.01, "errors": 50, "requests": 1000},
    Verdict.RATE_NOT_HELD: {"achieved_rps": 90.0, "target_rate": 100.0, "held": 0.9},
    Verdict.LOADGEN_SATURATED: {
        "component": "locust-worker",
        "cpu_percent": 97.0,
        "limit_percent": 90.0,
    },
    Verdict.LOADGEN_SATURATED_AT_MOST: {
        "component": "locust-worker",
        "cpu_percent": 97.0,
        "limit_percent": 90.0,
        "workers": 2,
    },
    Verdict.APP_DIED: {"detail": "flask-sync's server process (pid 7) exit code 1"},
    Verdict.WORKER_LOST: {"detail": "locust-worker-1 (pid 9) killed by signal 9"},
    Verdict.DATABASE_RESTARTED: {"detail": "the postmaster (pid 3) went away"},
    Verdict.BACKLOG: {"backlog": 3702},
    Verdict.MACHINE_SATURATED: {"core_percent": 99.0, "cpu_count": 2},
    Verdict.FINAL_REPORTS_MISSING: {"workers_final": 1, "workers_expected": 2},
    Verdict.P99_OVER_SLO: {"p99_ms": 250.0, "slo_p99_ms": 100.0},
    Verdict.UNRECOGNISED: {"text": "something an old loadlab wrote"},
}


def test_every_code_has_a_template_and_sample_figures() -> None:
    assert set(SAMPLE_DETAILS) == set(Verdict)
    for code in Verdict:
        assert Finding.of(code, **SAMPLE_DETAILS[code]).message


@pytest.mark.parametrize("code", list(Verdict))
def test_the_legacy_reader_knows_the_words_of_every_code(code: Verdict) -> None:
    """An old result held only the message: the one legacy table gives each its code back."""
    written = Finding.of(code, **SAMPLE_DETAILS[code])
    read = Finding.model_validate(written.message)
    assert (read.code, read.message) == (code, written.message)
    flag = Flag.model_validate(f"003-flask-sync-db-closed-16u-r1: {written.message}")
    assert (flag.source, flag.code, flag.message) == (
        "003-flask-sync-db-closed-16u-r1",
        code,
        written.message,
    )
    assert flag.text == f"003-flask-sync-db-closed-16u-r1: {written.message}"


def test_an_old_capacity_flag_keeps_its_step_and_finds_its_code() -> None:
    old = (
        "flask-sync: step at 800 req/s: load generator saturated: a locust-worker process "
        "averaged 97% of a core (limit 90%)"
    )
    flag = Flag.model_validate(old)
    assert flag.source == "flask-sync" and flag.code is Verdict.LOADGEN_SATURATED
    assert flag.text == old


def test_a_coded_finding_is_read_by_its_code_not_its_words() -> None:
    reworded = Finding(code=Verdict.MACHINE_SATURATED, message="the box was flat out")
    again = Finding.model_validate_json(reworded.model_dump_json())
    assert again == reworded and again.code is Verdict.MACHINE_SATURATED
    # words that read like another verdict change nothing once the code is written
    misleading = Finding(code=Verdict.BACKLOG, message="load generator saturated: no")
    assert Finding.model_validate_json(misleading.model_dump_json()).code is Verdict.BACKLOG


@pytest.mark.parametrize("path", PUBLISHED, ids=lambda p: str(p.relative_to(REPO)))
def test_published_summaries_load_with_their_words_and_a_code(path: Path) -> None:
    import json

    raw = json.loads(path.read_text())
    summary = read_summary(path.parent)
    for old, new in zip(raw["cells"], summary.cells, strict=True):
        for key in ("reasons", "warnings"):
            findings = getattr(new.validity, key)
            assert [f.message for f in findings] == old["validity"][key]
            assert Verdict.UNRECOGNISED not in {f.code for f in findings}
    for old, new in zip(raw["aggregates"], summary.aggregates, strict=True):
        assert [f.message for f in new.invalid_reasons] == old["invalid_reasons"]
        assert Verdict.UNRECOGNISED not in {f.code for f in new.invalid_reasons}
    cell_ids = {c.spec.cell_id for c in summary.cells}
    for old, new in zip(
        raw["ratios"] + raw["capacity_ratios"],
        summary.ratios + summary.capacity_ratios,
        strict=True,
    ):
        assert [f.text for f in new.flag_reasons] == old["flag_reasons"]
        for flag in new.flag_reasons:
            assert flag.code is not Verdict.UNRECOGNISED
            assert flag.source in cell_ids or new.basis == "capacity"
    # written again, the summary carries codes and reads back the same
    assert Summary.model_validate_json(summary.model_dump_json()) == summary


# ---------------------------------------------------------------- readers decide by code


def cell(
    variant: str,
    *,
    reasons: list[Finding] | None = None,
    warnings: list[Finding] | None = None,
    repeat: int = 1,
    rate: float | None = None,
    p99: float = 10.0,
) -> CellResult:
    load = LoadLevel(model="open", rate=rate) if rate else LoadLevel()
    return CellResult(
        spec=CellSpec(
            cell_id=f"00{repeat}-{variant}-db-{load.label}-r{repeat}",
            order=repeat,
            variant=variant,
            workload="db",
            load=load,
            repeat=repeat,
            duration_s=10,
            warmup_s=1,
            phase="capacity" if rate else "matrix",
        ),
        requests=1000,
        errors=0,
        error_rate=0.0,
        measured_s=10,
        throughput_rps=rate or 100.0,
        target_rate=rate,
        rate_held=True if rate else None,
        latency=Latency(count=1000, p99=p99),
        validity=Validity(valid=not reasons, reasons=reasons or [], warnings=warnings or []),
    )


def _manifest() -> Manifest:
    return Manifest(
        run_id="r", loadlab_version="0", backend="local", started="now", command="loadlab run"
    )


def test_caveats_count_saturated_cells_by_code() -> None:
    machine = Finding(code=Verdict.MACHINE_SATURATED, message="reworded: every core busy")
    at_most = Finding(code=Verdict.LOADGEN_SATURATED_AT_MOST, message="reworded: Locust's limit")
    lookalike = Finding(code=Verdict.BACKLOG, message="machine CPU saturated (not really)")
    cells = [
        cell("flask-sync", warnings=[machine]),
        cell("flask-sync", warnings=[lookalike], repeat=2),
        cell("fastapi-async", reasons=[at_most]),
    ]
    notes = caveats(_manifest(), cells)
    assert any(n.startswith("the machine's CPUs were saturated in 1 of 3 cells") for n in notes)
    assert any(n.startswith("the load generator saturated in 1 of 3 cells") for n in notes)


def test_a_capacity_step_fails_on_a_saturated_load_generator_by_code() -> None:
    saturated = Finding(code=Verdict.LOADGEN_SATURATED, message="reworded: Locust was flat out")
    other = Finding(code=Verdict.BACKLOG, message="load generator saturated, says the text")
    assert step_verdict(cell("flask-sync", rate=200, reasons=[saturated]), 100, 0.01) == saturated
    assert step_verdict(cell("flask-sync", rate=200, reasons=[other]), 100, 0.01) is None
    [p99] = [step_verdict(cell("flask-sync", rate=200, p99=250), 100, 0.01)]
    assert p99 is not None and p99.code is Verdict.P99_OVER_SLO
    assert p99.message == "p99 250 ms over the 100 ms SLO"


def test_a_capacity_ratio_is_flagged_when_a_search_ended_on_loadgen_saturation() -> None:
    config = RunConfig(capacity={"enabled": True, "slo_p99_ms": 100})
    saturated = Finding(code=Verdict.LOADGEN_SATURATED, message="reworded")
    cells = [
        cell("flask-sync", rate=200),
        cell("flask-sync", rate=400, reasons=[saturated], repeat=2),
        cell("fastapi-async", rate=200),
        cell("fastapi-async", rate=400, p99=900, repeat=2),  # the SLO ends this one
    ]
    found = capacity(cells, config)
    by_variant = {c.variant: c for c in found}
    assert by_variant["flask-sync"].limit == saturated
    assert by_variant["flask-sync"].limited_by == "step at 400 req/s: reworded"
    assert by_variant["fastapi-async"].limit.code is Verdict.P99_OVER_SLO  # type: ignore[union-attr]
    [r] = capacity_ratios(found)
    assert r.flagged
    [flag] = r.flag_reasons
    assert (flag.source, flag.code) == ("flask-sync", Verdict.LOADGEN_SATURATED)
    assert flag.text == "flask-sync: step at 400 req/s: reworded"


def test_a_ratio_keeps_each_invalid_cell_id_beside_its_finding() -> None:
    error = Finding.of(Verdict.ERROR_RATE, error_rate=0.5, limit=0.01, errors=5, requests=10)
    cells = [cell("fastapi-async"), cell("flask-sync", reasons=[error])]
    [r] = ratios(cells)
    [flag] = r.flag_reasons
    assert flag.source == cells[1].spec.cell_id
    assert (flag.code, flag.message, flag.details) == (error.code, error.message, error.details)


def test_the_map_marks_a_point_by_code() -> None:
    loadgen = Flag(source="003-x", code=Verdict.LOADGEN_SATURATED, message="reworded")
    lookalike = Flag(source="004-x", code=Verdict.ERROR_RATE, message="load generator saturated?")
    machine = Finding(code=Verdict.MACHINE_SATURATED, message="every core busy")
    not_machine = Finding(code=Verdict.BACKLOG, message="machine CPU saturated, says the text")

    def ratio(flags: list[Flag]) -> Ratio:
        return Ratio(
            workload="db",
            load_label="closed-32u",
            numerator="fastapi-async",
            denominator="flask-sync",
            estimate=Estimate(median=2.0, ci_low=1.8, ci_high=2.2, n=3),
            flagged=bool(flags),
            flag_reasons=flags,
        )

    summary = Summary(run_id="r", backend="local", cells=[cell("flask-sync", warnings=[machine])])
    marked = map_ratio(summary, ratio([loadgen]))
    assert marked.loadgen_saturated and marked.machine_saturated
    assert marked.reasons == ["003-x: reworded", "every core busy"]
    plain = Summary(run_id="r", backend="local", cells=[cell("flask-sync", warnings=[not_machine])])
    unmarked = map_ratio(plain, ratio([lookalike]))
    assert not unmarked.loadgen_saturated and not unmarked.machine_saturated
    assert unmarked.flagged  # an invalid cell still flags it, whatever the reason
