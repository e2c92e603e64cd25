"""`loadlab compare A B`: a verdict per ratio and an exit code a CI job can gate on."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loadlab.cli.app import app
from loadlab.core.errors import LabError
from loadlab.core.results import (
    Estimate,
    Manifest,
    Ratio,
    Summary,
    read_manifest,
    read_summary,
    write_json_atomic,
)
from loadlab.orchestration.reproduce import reproduce_checked
from loadlab.report.compare import compare_paths, judge_move
from tests.report.conftest import FIXTURE, derive_run


def tight(median: float, half: float = 0.02, n: int = 5) -> Estimate:
    return Estimate(median=median, ci_low=median * (1 - half), ci_high=median * (1 + half), n=n)


def fabricate(
    root: Path,
    run_id: str,
    *,
    json_ratio: float = 3.0,
    half: float = 0.02,
    edit_manifest: Callable[[Manifest], None] | None = None,
    edit_summary: Callable[[Summary], None] | None = None,
) -> Path:
    """A copy of the fixture run whose json ratios are `json_ratio` ± `half` (5 blocks) and
    whose db-read ratios are 1.5 ± 2%."""
    dest = root / run_id
    shutil.copytree(FIXTURE, dest)
    manifest = read_manifest(dest)
    manifest.run_id = run_id
    if edit_manifest:
        edit_manifest(manifest)
    write_json_atomic(dest / "manifest.json", manifest)
    summary = read_summary(dest)
    summary.run_id = run_id
    for r in summary.ratios:
        r.estimate = tight(json_ratio, half) if r.workload == "json" else tight(1.5)
        r.method, r.blocks = "paired-t-log", 5
    if edit_summary:
        edit_summary(summary)
    write_json_atomic(dest / "summary.json", summary)
    return dest


def verdicts(found) -> dict[str, str]:
    return {
        f"{r.change.workload} {r.change.load_label} {r.change.denominator}": r.verdict
        for r in found.ratios
    }


def test_identical_runs_agree(tmp_path: Path) -> None:
    a, b = fabricate(tmp_path, "a"), fabricate(tmp_path, "b")
    found = compare_paths(a, b)
    assert found.ratios and not found.moved and found.exit_code == 0
    assert "agree" in found.conclusion


def test_a_ratio_that_moved_beyond_the_threshold_fails_the_gate(tmp_path: Path) -> None:
    a, b = fabricate(tmp_path, "a"), fabricate(tmp_path, "b", json_ratio=3.6)
    found = compare_paths(a, b, threshold=0.05)
    moved = {r.change.workload for r in found.moved}
    assert moved == {"json"}
    assert all(r.direction == "higher" for r in found.moved)
    assert found.exit_code == 1
    # the db-read ratios did not move
    assert all(r.verdict == "not moved" for r in found.ratios if r.change.workload == "db-read")


def test_a_small_change_is_within_the_threshold(tmp_path: Path) -> None:
    a, b = fabricate(tmp_path, "a"), fabricate(tmp_path, "b", json_ratio=3.09, half=0.005)
    found = compare_paths(a, b, threshold=0.05)
    assert found.exit_code == 0
    assert any("within ±5%" in r.reason for r in found.ratios)


def test_a_change_inside_overlapping_intervals_has_not_moved(tmp_path: Path) -> None:
    a = fabricate(tmp_path, "a", half=0.15)
    b = fabricate(tmp_path, "b", json_ratio=3.3, half=0.15)
    found = compare_paths(a, b)
    assert found.exit_code == 0
    assert any("intervals overlap" in r.reason for r in found.ratios)


def test_a_change_inside_the_noise_floor_has_not_moved(tmp_path: Path) -> None:
    def with_floor(summary: Summary) -> None:
        summary.noise_floor = [
            Ratio(
                workload="json",
                load_label=label,
                numerator="fastapi-async#b",
                denominator="fastapi-async",
                estimate=Estimate(median=1.0, ci_low=0.9, ci_high=1.1, n=5),
                method="paired-t-log",
                blocks=5,
            )
            for label in ("closed-16u", "closed-64u")
        ]

    a = fabricate(tmp_path, "a", half=0.01, edit_summary=with_floor)
    b = fabricate(tmp_path, "b", json_ratio=3.25, half=0.01)  # +8%, disjoint intervals
    found = compare_paths(a, b)
    json_verdicts = [r for r in found.ratios if r.change.workload == "json"]
    assert json_verdicts and all(r.verdict == "not moved" for r in json_verdicts)
    assert all("noise floor" in r.reason for r in json_verdicts)
    assert json_verdicts[0].noise_floor_pct == pytest.approx(100 * (1 / 0.9 - 1))


def test_runs_of_another_machine_are_refused_naming_the_difference(tmp_path: Path) -> None:
    def other_machine(m: Manifest) -> None:
        m.machine = {**m.machine, "cpu_count": 8, "cpu_model": "Another CPU"}

    a, b = fabricate(tmp_path, "a"), fabricate(tmp_path, "b", edit_manifest=other_machine)
    with pytest.raises(LabError, match=re.escape("machine.cpu_count: 4 vs 8")) as raised:
        compare_paths(a, b)
    assert "machine.cpu_model" in str(raised.value) and "--force" in str(raised.value)
    forced = compare_paths(a, b, force=True)
    assert forced.forced and forced.exit_code == 0
    assert any("machine.cpu_count" in c for c in forced.caveats)


def test_other_data_or_variant_configuration_is_not_comparable(tmp_path: Path) -> None:
    def other_data(m: Manifest) -> None:
        m.data = {**m.data, "checksum": "0" * 64}

    def other_threads(m: Manifest) -> None:
        record = m.variants["flask-sync"]
        record.command = [part if part != "10" else "64" for part in record.command]

    a = fabricate(tmp_path, "a")
    with pytest.raises(LabError, match=re.escape("data.checksum")):
        compare_paths(a, fabricate(tmp_path, "b", edit_manifest=other_data))
    with pytest.raises(LabError, match=re.escape("variants.flask-sync.command")):
        compare_paths(a, fabricate(tmp_path, "c", edit_manifest=other_threads))


def test_knobs_differ_but_a_port_does_not(tmp_path: Path) -> None:
    def other_port(m: Manifest) -> None:
        for record in m.variants.values():
            record.command = [
                "127.0.0.1:19999" if ":" in part and part.startswith("127.") else part
                for part in record.command
            ]
            if "--port" in record.command:
                record.command[record.command.index("--port") + 1] = "19998"

    def other_knobs(m: Manifest) -> None:
        m.variants["fastapi-async"].knobs = {"pool_size": 32}

    a = fabricate(tmp_path, "a")
    assert compare_paths(a, fabricate(tmp_path, "b", edit_manifest=other_port)).exit_code == 0
    with pytest.raises(
        LabError, match=re.escape("variants.fastapi-async.knobs: pool_size=— vs pool_size=32")
    ):
        compare_paths(a, fabricate(tmp_path, "c", edit_manifest=other_knobs))


def test_a_report_folder_stands_for_its_run(tmp_path: Path) -> None:
    a = fabricate(tmp_path, "a")
    report = tmp_path / "reports" / "a"
    shutil.copytree(a, report / "data" / "a")
    meta = {
        "name": "a",
        "title": "a report",
        "built": "2025-03-01T00:00:00+00:00",
        "loadlab_version": "0",
        "runs": [{"run_id": "a", "label": "a", "path": "data/a", "backend": "local"}],
    }
    write_json_atomic(report / "report.json", meta)
    found = compare_paths(report, fabricate(tmp_path, "b", json_ratio=3.6))
    assert found.before.run_id == "a" and found.exit_code == 1


def test_judge_move_treats_a_missing_interval_as_its_point() -> None:
    point = Estimate(median=2.0, ci_low=2.0, ci_high=2.0, n=1)
    assert judge_move(point, Estimate(median=2.5, ci_low=2.5, ci_high=2.5, n=1), 0.05)[0] == "moved"
    assert judge_move(point, tight(2.5, 0.3), 0.05)[0] == "not moved"


def test_the_cli_exits_1_on_a_move_0_without_and_2_when_not_comparable(tmp_path: Path) -> None:
    runner = CliRunner()
    a, b = fabricate(tmp_path, "a"), fabricate(tmp_path, "b", json_ratio=3.6)
    moved = runner.invoke(app, ["compare", str(a), str(b), "--threshold", "5%"])
    assert moved.exit_code == 1, moved.output
    assert "moved higher" in moved.output
    same = runner.invoke(app, ["compare", str(a), str(fabricate(tmp_path, "c"))])
    assert same.exit_code == 0, same.output
    assert "the runs agree" in same.output
    loose = runner.invoke(app, ["compare", str(a), str(b), "--threshold", "30%"])
    assert loose.exit_code == 0, loose.output

    def other_machine(m: Manifest) -> None:
        m.machine = {**m.machine, "cpu_count": 2}

    d = fabricate(tmp_path, "d", edit_manifest=other_machine)
    refused = runner.invoke(app, ["compare", str(a), str(d)])
    assert refused.exit_code == 2
    forced = runner.invoke(app, ["compare", str(a), str(d), "--force"])
    assert forced.exit_code == 0 and "caveat: not comparable" in forced.output


def test_reproduce_says_whether_the_rerun_agrees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = fabricate(tmp_path, "original")
    built: list[list[Path]] = []

    def build(runs: list[Path], **_: object) -> Path:
        built.append(runs)
        return tmp_path / "reports" / "rerun"

    def executor(config: dict, results_root: Path) -> Path:
        return derive_run(
            results_root, "20250309T120000Z-rerun", hostname="laptop", json_ratio_factor=1.0
        )

    # the package exports a function named like the module: patch the module itself
    monkeypatch.setattr(sys.modules["loadlab.orchestration.reproduce"], "build_report", build)
    done = reproduce_checked(original, results_root=tmp_path / "results", executor=executor)
    assert done.report == tmp_path / "reports" / "rerun" and built[0][0] == original
    agreement = done.agreement
    assert agreement.ratios and agreement.before.run_id == "original"
    # the re-run ran on another machine (8 CPUs): compared anyway, the difference a caveat
    assert agreement.forced
    assert any("machine.cpu_count" in c for c in agreement.caveats)
