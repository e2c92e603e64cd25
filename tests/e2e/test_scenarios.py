"""Every scenario runs end to end at the tiny size, as a user runs it (`loadlab run
--scenario NAME --size tiny`), and `loadlab claims` builds one report from scenario runs that
leads with the claims table."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

from loadlab.core.results import Manifest, Summary
from loadlab.core.scenario import load_scenario, scenario_names
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scenario_runs(lab_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each scenario run once, tiny, with a flag overriding it: scenario name -> run folder."""
    runs: dict[str, Path] = {}
    for name in scenario_names():
        lab = Lab(lab_home, tmp_path_factory.mktemp(name) / "results", uuid.uuid4().hex)
        done = lab.run("run", "--scenario", name, "--size", "tiny", "--users", "4", "--no-report")
        assert done.returncode == 0, f"{name}:\n{done.stdout}{done.stderr}"
        assert lab.leftovers() == [], name
        [runs[name]] = lab.run_dirs()
    return runs


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_runs_tiny(scenario_runs: dict[str, Path], name: str) -> None:
    scenario, run_dir = load_scenario(name), scenario_runs[name]
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.config["scenario"] == scenario.label
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    ran = {(a.variant, a.workload, a.load_label) for a in summary.aggregates}
    # --users 4 overrides the scenario's levels (and, as on any run, sets no think time)
    expected = {
        (v, w, "closed-4u") for v in scenario.run.variants for w in scenario.claimed_workloads()
    }
    assert ran == expected
    for cell in summary.cells:
        assert cell.requests > 0 and cell.errors == 0, (cell.spec.cell_id, cell.failures)


def _claims_table_first(report: Path) -> str:
    markdown = (report / "report.md").read_text()
    first = re.search(r"^## (.+)$", markdown, re.M)
    assert first is not None and first[1] == "Claims tested by the scenarios"
    table = next(line for line in markdown.splitlines() if line.startswith("|"))
    assert table.startswith(
        "| Claim | Source | Published ratio | Measured ratio (95% CI) | Verdict |"
    )
    return markdown


def test_claims_report_over_every_scenario(
    scenario_runs: dict[str, Path], lab_home: Path, tmp_path: Path
) -> None:
    lab = Lab(lab_home, tmp_path / "results", uuid.uuid4().hex)
    args = [arg for run in scenario_runs.values() for arg in ("--from", str(run))]
    done = lab.run("claims", *args, "--out", str(tmp_path / "reports"), "--name", "all")
    assert done.returncode == 0, done.stdout + done.stderr
    markdown = _claims_table_first(tmp_path / "reports" / "all")
    for name in scenario_names():
        for claim in load_scenario(name).claims:
            row = next(
                (
                    ln
                    for ln in markdown.splitlines()
                    if ln.startswith(f"| {claim} |") and f"| {name}@" in ln
                ),
                None,
            )
            assert row is not None, f"no row for {claim} in {name}"
            assert "supported" in row and "×" in row, row  # measured, with a computed verdict
    assert "The ratio reached 2x" in markdown or "never reached 2x" in markdown
    assert "7x" in markdown


def test_claims_tiny_runs_and_reports(lab: Lab) -> None:
    out = lab.results.parent / "reports"
    done = lab.run("claims", "--size", "tiny", "--scenarios", "manjusaka-2024", "--out", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(lab.run_dirs()) == 1
    [report] = [p for p in out.iterdir() if p.is_dir()]
    markdown = _claims_table_first(report)
    assert "| manjusaka-2024 |" in markdown and "| manjusaka-retold |" in markdown
    assert "manjusaka-2024@1 ran one repeat" in markdown  # tiny says what it cannot show
    assert lab.leftovers() == []
