"""`loadlab run --backend compose` for real: images built, the stack up, a tiny matrix, the
results folder and its report, and nothing of the run's compose project left afterwards,
also when the run is interrupted with Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from loadlab.core.results import Manifest, Summary
from tests.compose.conftest import REPO, ComposeRun
from tests.fixtures.tiny_map import read_tiny_wait_map

pytestmark = [pytest.mark.compose, pytest.mark.timeout(2400)]

VARIANTS = ("flask-sync", "flask-gevent", "fastapi-async")
TINY = ["--scale", "0.002", "--duration", "3", "--warmup", "1", "--users", "8",
        "--locust-workers", "2", "--workloads", "db-read", "--no-report"]  # fmt: skip


def test_a_tiny_matrix_runs_in_compose_and_leaves_nothing(
    compose_run: ComposeRun, tmp_path: Path
) -> None:
    started = time.monotonic()
    done = compose_run.run("run", "--backend", "compose", "--variants", ",".join(VARIANTS), *TINY)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert compose_run.leftovers() == {}, "the run removed its containers, network and volume"
    print(f"\ncompose run: {elapsed:.0f}s\n{done.stdout}")

    [run_dir] = compose_run.run_dirs()
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.backend == "compose" and manifest.finished and not manifest.interrupted
    assert manifest.topology["project"] == compose_run.project
    assert manifest.data["checksum"] and manifest.data["users"] == 2000
    assert manifest.postgres["settings"]["shared_preload_libraries"] == "pg_stat_statements"
    assert set(manifest.variants) == set(VARIANTS)
    for record in manifest.variants.values():
        assert record.command[0] in {"gunicorn", "uvicorn"} and record.pool_size == 10
        assert record.cpuset == manifest.topology["cpusets"]["app"]

    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    assert summary.backend == "compose"
    assert {(a.variant, a.workload) for a in summary.aggregates} == {
        (v, "db-read") for v in VARIANTS
    }
    for aggregate in summary.aggregates:
        assert aggregate.throughput_rps.median > 0 and aggregate.errors == 0, aggregate
    assert all(v.passed for v in summary.verification), summary.verification

    for cell in summary.cells:
        cell_dir = run_dir / "cells" / cell.spec.cell_id
        for name in ("cell.json", "measurement.json", "latency.hdr", "resources.csv",
                     "pg_stat_statements.json", "locust_stats.csv", "locust-master.log",
                     "locust-worker-0.log", "locust-worker-1.log"):  # fmt: skip
            assert (cell_dir / name).exists(), f"{cell_dir / name} missing"
        assert {"app", "postgres", "locust-master", "locust-worker"} <= set(cell.resources)
        assert cell.resources["locust-worker"].processes == 2, "two worker containers sampled"
        assert cell.workers_reported == 2
        assert json.loads((cell_dir / "pg_stat_statements.json").read_text()), "statements seen"
        assert cell.statements_per_request and cell.statements_per_request > 0
    for name in ("postgres.log", "seed.log", "build.log", *(f"{v}.log" for v in VARIANTS)):
        assert (run_dir / "logs" / name).exists(), name

    report = compose_run.run(
        "report", str(run_dir), "--out", str(tmp_path / "reports"), timeout=300
    )
    assert report.returncode == 0, report.stdout + report.stderr
    [report_dir] = [p for p in (tmp_path / "reports").iterdir() if p.is_dir()]
    markdown = (report_dir / "report.md").read_text()
    assert (report_dir / "index.html").exists()
    for variant in VARIANTS:
        assert variant in markdown


def test_ctrl_c_tears_the_compose_project_down(compose_run: ComposeRun, tmp_path: Path) -> None:
    log_path = tmp_path / "run.log"
    log = log_path.open("w")  # a file, not a pipe: the run never blocks on its output
    process = subprocess.Popen(
        compose_run.command(
            "run", "--backend", "compose", "--variants", "fastapi-async", *TINY, "--repeats", "3"
        ),
        cwd=REPO,
        env=compose_run.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log.close()
    try:
        # interrupt while the first cell's swarm runs against the variant
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and process.poll() is None:
            if list(compose_run.results.glob("*/cells/*/compose.cell.yml")):
                break
            time.sleep(0.2)
        else:
            process.kill()
            process.wait(timeout=60)
            pytest.fail(f"the run never reached its first cell:\n{log_path.read_text()[-5000:]}")
        time.sleep(4)
        assert compose_run.leftovers().get("containers"), "the stack was up when interrupted"
        process.send_signal(signal.SIGINT)  # what a terminal's Ctrl-C sends
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    output = log_path.read_text()
    assert process.returncode == 130, output[-5000:]
    assert "Traceback" not in output, output[-5000:]
    assert compose_run.leftovers() == {}, "Ctrl-C removed the containers, network and volume"
    [run_dir] = compose_run.run_dirs()
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.interrupted and manifest.finished


def test_a_tiny_wait_map_runs_in_compose(compose_run: ComposeRun) -> None:
    done = compose_run.run("map", "--preset", "wait", "--size", "tiny", "--backend", "compose")
    assert done.returncode == 0, done.stdout[-5000:] + done.stderr[-5000:]
    assert compose_run.leftovers() == {}, "the map's run removed its containers"
    [map_dir] = [p for p in compose_run.run_dirs() if p.name.startswith("map-wait-")]
    regime = read_tiny_wait_map(map_dir, "compose")
    assert regime.topology["project"] == compose_run.project
    html = (map_dir / "report" / "index.html").read_text()
    assert "compose" in html and html.count("<svg") == 2


def test_web_shows_the_run_live_on_compose(compose_run: ComposeRun, tmp_path: Path) -> None:
    """--web: the master's own UI, published on loopback, answers while a cell runs; the run
    still starts and ends by itself."""
    import re
    import urllib.request

    log_path = tmp_path / "run.log"
    log = log_path.open("w")
    args = [*TINY, "--duration", "8", "--locust-workers", "1", "--web"]
    process = subprocess.Popen(
        compose_run.command("run", "--backend", "compose", "--variants", "fastapi-async", *args),
        cwd=REPO,
        env={**compose_run.env(), "COLUMNS": "200"},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log.close()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 900
        address = None
        while time.monotonic() < deadline and process.poll() is None and not seen:
            found = re.search(r"Locust web UI: (http://127\.0\.0\.1:\d+)", log_path.read_text())
            address = found.group(1) if found else address
            if address and list(compose_run.results.glob("*/cells/*/compose.cell.yml")):
                try:
                    with urllib.request.urlopen(address, timeout=2) as response:
                        seen.append(response.read().decode(errors="replace"))
                except OSError:
                    pass
            time.sleep(0.3)
        code = process.wait(timeout=600)
    finally:
        if process.poll() is None:
            process.kill()
    output = log_path.read_text()
    assert code == 0, output[-5000:]
    assert address, f"no address printed:\n{output[-3000:]}"
    assert seen and "locust" in seen[0].lower(), "the UI answered while the cell ran"
    assert compose_run.leftovers() == {}
    [run_dir] = compose_run.run_dirs()
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert manifest.topology["locust_web"] == address
    [cell] = list((run_dir / "cells").iterdir())
    master = json.loads((cell / "compose.cell.yml").read_text())["services"]["locust-master"]
    assert "--autostart" in master["command"] and "--headless" not in master["command"]
    assert (cell / "measurement.json").exists()
