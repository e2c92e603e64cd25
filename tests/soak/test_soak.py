"""The soak preset, shortened for CI: one variant, 20 measured seconds in 5-second windows.

Too short for the RSS flag (a slope over seconds is allocator noise), so this checks the
plumbing end to end: per-window HDR figures, an RSS trend for every component, the soak
section of summary.json and its table in the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab.core.results import Summary
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.slow


def test_short_soak_records_trends_and_windows(lab: Lab, tmp_path: Path) -> None:
    short = tmp_path / "short-soak.toml"
    short.write_text("[soak]\nwindow_s = 5\n")
    done = lab.run(
        "run", "--preset", "soak", "--config", str(short), "--variants", "fastapi-async",
        "--rates", "50", "--duration", "20", "--warmup", "2", "--scale", "0.002",
        "--no-verify", "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    [cell] = summary.cells
    [soak] = summary.soak
    assert soak.cell_id == cell.spec.cell_id and soak.variant == "fastapi-async"
    assert soak.window_s == 5 and not soak.judged and soak.flags == []
    assert [w.start_s for w in soak.windows] == [0, 5, 10, 15]
    assert all(w.requests > 0 and w.p50_ms > 0 and w.p99_ms >= w.p50_ms for w in soak.windows)
    # every request of the cell is in exactly one window, bar stragglers after the stop
    in_windows = sum(w.requests for w in soak.windows)
    assert 0.9 * cell.requests <= in_windows <= cell.requests
    assert soak.p99_drift_ms_per_hour is not None
    trends = {t.component: t for t in soak.rss}
    assert set(trends) == {"app", "postgres", "locust-master", "locust-worker"}
    assert all(t.samples >= 20 and t.max_mb > 0 and not t.flagged for t in trends.values())

    out = tmp_path / "reports"
    assert lab.run("report", str(run_dir), "--out", str(out)).returncode == 0
    html = (out / run_dir.name / "index.html").read_text()
    md = (out / run_dir.name / "report.md").read_text()
    for text in (html, md):
        assert "Soak: memory and latency over time" in text
        assert "growth MB/hour" in text
