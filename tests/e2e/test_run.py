"""A tiny `loadlab run`, as a user runs it, through to summary.json, and what it leaves."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from loadlab.core.results import Manifest, Summary
from tests.e2e.conftest import REPO, Lab

pytestmark = pytest.mark.slow

TINY = ["--scale", "0.002", "--duration", "3", "--warmup", "1", "--users", "8", "--no-report"]


def test_tiny_run_summarises_every_variant_and_workload(lab: Lab) -> None:
    done = lab.run("run", *TINY)
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    rows = {(a.variant, a.workload) for a in summary.aggregates}
    assert rows == {
        (v, w) for v in ("flask-sync", "flask-gevent", "fastapi-async") for w in ("json", "db-read")
    }
    assert all(a.throughput_rps.median > 0 for a in summary.aggregates)
    assert {(r.denominator, r.workload) for r in summary.ratios} == {
        (d, w) for d in ("flask-sync", "flask-gevent") for w in ("json", "db-read")
    }
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.data["checksum"] and manifest.data["scale"] == 0.002
    assert manifest.data["reused"] is True  # the session's cluster was already seeded
    for record in manifest.variants.values():
        assert record.command and record.workers >= 1 and record.pool_size == 10
    assert manifest.order["sequence"] == [
        c.spec.cell_id for c in sorted(summary.cells, key=lambda c: c.spec.order)
    ]
    assert "fastapi-async / flask-gevent" in done.stdout
    for cell in summary.cells:
        cell_dir = run_dir / "cells" / cell.spec.cell_id
        for name in (
            "cell.json",
            "measurement.json",
            "latency.hdr",
            "resources.csv",
            "locust_stats.csv",
        ):
            assert (cell_dir / name).exists(), f"{cell_dir / name} missing"
    assert lab.leftovers() == []


def _checkout_changes() -> str:
    """What `git status` says of the tracked trees a run could write to."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--", "reports", "loadlab", "services", "loadtests"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_a_run_leaves_its_report_under_results_and_the_checkout_as_it_was(lab: Lab) -> None:
    before = _checkout_changes()
    done = lab.run("run", *(a for a in TINY if a != "--no-report"), "--variants", "fastapi-async")
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    assert (lab.results / "reports" / run_dir.name / "index.html").is_file()
    assert (lab.results / "reports" / "index.html").is_file()
    assert _checkout_changes() == before
    assert lab.leftovers() == []


@pytest.mark.parametrize("moment", ["verifying", "mid-cell"])
def test_ctrl_c_stops_everything_and_keeps_finished_cells(lab: Lab, moment: str) -> None:
    from loadlab.core import integrity
    from tests.fixtures.run_watch import RunWatch

    watch = RunWatch(lab, (*TINY, "--repeats", "3")).start()
    try:
        if moment == "verifying":
            # while the first variant is being verified: an app is up, no cell yet
            watch.one_child("services.", timeout=120)
            time.sleep(0.5)
        else:
            # in the middle of the second cell, while Locust and an app are running
            watch.wait_for_swarm(2, timeout=240)
            time.sleep(1.5)
        watch.interrupt()
        code = watch.finish(timeout=120)
    finally:
        watch.close()
    output = watch.output()
    assert code == 130, output
    assert "interrupted" in output
    assert "Traceback" not in output
    [run_dir] = lab.run_dirs()
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.interrupted and manifest.finished
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    assert not summary.complete
    if moment == "mid-cell":
        assert len(summary.cells) >= 1  # the first cell finished and is kept
    # what was written is whole and sealed: every kept cell's files match their checksums
    assert sorted(manifest.checksums) == sorted(c.spec.cell_id for c in summary.cells)
    assert integrity.mismatches(run_dir, manifest) == []
    assert not list(run_dir.rglob("*.tmp")), "a half-written file was left behind"
    assert not list(run_dir.rglob(".locust-partial")), "Locust's staging folder was left behind"
    assert watch.survivors() == []
    assert lab.leftovers() == []
    assert watch.busy_ports() == [], "a port of the run is still taken"
    if summary.cells:
        report = lab.run("report", str(run_dir), "--out", str(lab.results.parent / "reports"))
        assert report.returncode == 0, report.stdout + report.stderr


def test_sigterm_is_handled_like_ctrl_c(lab: Lab) -> None:
    process = subprocess.Popen(
        lab.command("run", *TINY),
        cwd=REPO,
        env=lab.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not list(lab.results.glob("*/cells/*/locust-master.log")):
        time.sleep(0.2)
    process.terminate()
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output
    assert lab.leftovers() == []


def test_bad_config_file_is_named_without_a_traceback(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "bad.toml"
    config.write_text('variants = ["flask-sync", "django"]\nrepeat = 2\n')
    done = lab.run("run", "--config", str(config))
    assert done.returncode == 2
    assert "django" in done.stderr and "repeat: unknown key" in done.stderr
    assert "Traceback" not in done.stderr
    assert not lab.results.exists() or lab.run_dirs() == []


def test_unknown_variant_on_the_command_line(lab: Lab) -> None:
    done = lab.run("run", "--variants", "flask-sync,nope")
    assert done.returncode == 2 and "unknown variant(s) nope" in done.stderr
    assert "Traceback" not in done.stderr


def test_port_in_use_is_a_clear_error(lab: Lab) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = lab.run("serve", "flask-sync", "--port", str(port), "--scale", "0.002")
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"port {port}" in done.stderr and "already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert lab.leftovers() == []


def test_missing_postgres_is_a_clear_error(lab: Lab, tmp_path) -> None:  # type: ignore[no-untyped-def]
    done = lab.run("db", "status", LOADLAB_PG_BINDIR=str(tmp_path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "holds no PostgreSQL server" in done.stderr and "Traceback" not in done.stderr


def test_summarize_rebuilds_the_same_summary(lab: Lab) -> None:
    assert (
        lab.run("run", *TINY, "--variants", "fastapi-async", "--workloads", "json").returncode == 0
    )
    [run_dir] = lab.run_dirs()
    before = json.loads((run_dir / "summary.json").read_text())
    assert lab.run("summarize", str(run_dir)).returncode == 0
    assert json.loads((run_dir / "summary.json").read_text()) == before
