"""`loadlab map --preset wait --size tiny` for real: three variants served against the lab's
PostgreSQL, two waits at one concurrency, and map.json plus its report at the end."""

from __future__ import annotations

import json

import pytest

from loadlab.regime_map import RegimeMap
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.slow


def test_a_tiny_wait_map_runs_end_to_end(lab: Lab) -> None:
    done = lab.run("map", "--preset", "wait", "--size", "tiny", timeout=420)
    assert done.returncode == 0, done.stdout + done.stderr
    assert lab.leftovers() == []
    [map_dir] = [p for p in lab.run_dirs() if p.name.startswith("map-wait-")]
    regime = RegimeMap.model_validate_json((map_dir / "map.json").read_text())
    assert regime.preset == "wait" and regime.size == "tiny"
    assert [(p.family, p.x, p.y) for p in regime.points] == [
        ("pg-sleep", 0.0, 16.0),
        ("pg-sleep", 50.0, 16.0),
    ]
    for point in regime.points:
        assert set(point.ratios) == {"flask-gevent", "flask-sync"}
        assert all(r.median > 0 and r.n == 1 for r in point.ratios.values())
    [run] = regime.runs
    assert (map_dir / run.path / "summary.json").is_file()
    assert regime.cpu_count and regime.topology
    report = map_dir / "report"
    html = (report / "index.html").read_text()
    assert "Measured on:" in html and html.count("<svg") == 2
    assert "| pg-sleep | 50 | 16 |" in (report / "report.md").read_text()
    assert json.loads((map_dir / "plan.json").read_text())["preset"] == "wait"
