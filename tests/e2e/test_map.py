"""`loadlab map --preset wait --size tiny` for real: three variants served against the lab's
PostgreSQL, two waits at one concurrency, and map.json plus its report at the end."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Lab
from tests.fixtures.tiny_map import read_tiny_wait_map

pytestmark = pytest.mark.slow


def test_a_tiny_wait_map_runs_end_to_end(lab: Lab) -> None:
    done = lab.run("map", "--preset", "wait", "--size", "tiny", timeout=420)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lab.leftovers() == []
    [map_dir] = [p for p in lab.run_dirs() if p.name.startswith("map-wait-")]
    regime = read_tiny_wait_map(map_dir, "local")
    for point in regime.points:
        assert all(r.n == 1 for r in point.ratios.values())
    [run] = regime.runs
    assert (map_dir / run.path / "summary.json").is_file()
    assert regime.cpu_count and regime.topology
    report = map_dir / "report"
    html = (report / "index.html").read_text()
    assert "Measured on:" in html and html.count("<svg") == 2
    assert "| pg-sleep | 50 | 16 |" in (report / "report.md").read_text()
    assert json.loads((map_dir / "plan.json").read_text())["preset"] == "wait"
