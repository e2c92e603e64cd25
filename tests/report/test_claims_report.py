"""The claims report over scenario runs: its first table sets each claim a scenario tests
beside the measured ratio with a computed verdict, and it says where 2x and 7x were reached."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from loadlab.core.errors import LabError
from loadlab.core.results import read_summary
from loadlab.report.claims import ScenarioRun, scenario_claims
from loadlab.report.claims_report import build_claims_report
from tests.report.conftest import FIXTURE


def _as_scenario_run(root: Path, run_id: str, scenario: str) -> Path:
    dest = root / run_id
    shutil.copytree(FIXTURE, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    manifest["config"]["scenario"] = scenario
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest


def test_rows_verdicts_and_reach_are_computed() -> None:
    summary = read_summary(FIXTURE)
    result = scenario_claims(
        [
            ScenarioRun(
                "synthetic-io@1", ["tech-insider-2026", "strapi-2025", "xpertlab-2026"], summary
            )
        ]
    )
    rows = {r.check.claim.id: r for r in result.rows}
    assert rows["tech-insider-2026"].support == "not measured"  # the fixture has no io
    assert rows["strapi-2025"].support == "not supported (the lab measured less)"
    assert rows["xpertlab-2026"].support == "supported"
    assert rows["xpertlab-2026"].measured_text.startswith("3.07×")
    two, seven = result.reaches
    assert two.hits and all("json" in hit or "db-read" in hit for hit in two.hits)
    assert not seven.hits and "never reached 7x" in seven.sentence
    findings = " ".join(result.findings)
    assert "**Supported:** XpertLab (2026)" in findings
    assert (
        "**Not supported:** Strapi (2025) (5-7x)" in findings and "less than published" in findings
    )
    assert "**Not measured:** Tech-Insider (2026)" in findings


def test_the_report_leads_with_the_claims_table(tmp_path: Path) -> None:
    runs = [
        _as_scenario_run(tmp_path / "results", "20240101-000000-aaaa", "synthetic-io@1"),
        _as_scenario_run(tmp_path / "results", "20240101-000100-bbbb", "techempower@1"),
    ]
    report = build_claims_report(runs, out_root=tmp_path / "reports", name="claims-test")
    markdown = (report / "report.md").read_text()
    first_section = re.search(r"^## (.+)$", markdown, re.M)
    assert first_section and first_section[1] == "Claims tested by the scenarios"
    first_table = next(line for line in markdown.splitlines() if line.startswith("|"))
    assert first_table.startswith(
        "| Claim | Source | Published ratio | Measured ratio (95% CI) | Verdict |"
    )
    # every claim each scenario tests has a row, xpertlab once per scenario that tests it
    assert markdown.count("| xpertlab-2026 |") == 2 and "| grinberg |" in markdown
    assert "The ratio reached 2x in" in markdown and "never reached 7x" in markdown
    html = (report / "index.html").read_text()
    assert html.index("<table") == html.index('<table class="claims scenario-claims">')
    assert 'data-scenario="techempower@1"' in html
    meta = json.loads((report / "report.json").read_text())
    assert meta["kind"] == "claims" and meta["answer"][0].startswith("**Supported:**")
    assert "Run against run" not in markdown  # different regimes are not compared


def test_a_run_that_is_no_scenario_is_refused() -> None:
    with pytest.raises(LabError, match="is not a scenario run"):
        build_claims_report([FIXTURE], out_root=Path("/nonexistent"))
