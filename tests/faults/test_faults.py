"""Faults in the middle of a cell, injected from outside a real `loadlab run`: the database
restarts, the app server's master dies, a Locust worker dies. Each time the lab must say
so in the cell's validity, carry on with the next cell, and leave no process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from loadlab.core.results import CellResult, Manifest, Summary
from loadlab.core.verdicts import Verdict
from tests.e2e.conftest import REPO, Lab
from tests.faults.conftest import restart_postgres
from tests.fixtures.run_watch import RunWatch

pytestmark = pytest.mark.slow

# two short cells of one variant: the fault hits the first, the second shows recovery
TWO_CELLS = (
    "--scale", "0.002", "--workloads", "db-read", "--users", "8", "--repeats", "2",
    "--duration", "6", "--warmup", "1", "--no-verify", "--no-report",
)  # fmt: skip
APP_SERVERS = ("gunicorn", "uvicorn")


def cells_of(run_dir: Path) -> list[CellResult]:
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    return sorted(summary.cells, key=lambda c: c.spec.order)


def app_pids(cell_dir: Path) -> set[int]:
    import csv

    with (cell_dir / "resources.csv").open() as handle:
        return {int(r["pid"]) for r in csv.DictReader(handle) if r["component"] == "app"}


def app_master(watch: RunWatch) -> psutil.Process:
    for server in APP_SERVERS:
        if found := watch.children(server):
            return found[0]
    return watch.one_child(APP_SERVERS[0])


def listening_port(proc: psutil.Process) -> int:
    for conn in proc.net_connections(kind="tcp"):
        if conn.status == psutil.CONN_LISTEN:
            return int(conn.laddr.port)
    raise AssertionError(f"{proc.pid} listens on no port")


def health(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


def assert_nothing_left(watch: RunWatch, lab: Lab) -> None:
    assert watch.survivors() == []
    assert lab.leftovers() == []
    assert watch.busy_ports() == []


@pytest.mark.parametrize("variant", ["flask-sync", "fastapi-async"])  # psycopg_pool, asyncpg
def test_postgres_restart_mid_cell(lab: Lab, lab_home: Path, variant: str) -> None:
    watch = RunWatch(lab, ("--variants", variant, *TWO_CELLS)).start()
    try:
        first = watch.wait_for_swarm(1)
        port = listening_port(app_master(watch))
        time.sleep(3)  # past the warm-up, inside the measured window
        restart_postgres(lab_home)
        # the pool recovers by itself: /healthz is 200 again with the same server process
        deadline = time.monotonic() + 30
        while health(port) != 200:
            assert time.monotonic() < deadline, "the app never got its database back"
            time.sleep(0.3)
        code = watch.finish()
    finally:
        watch.close()
    assert code == 0, watch.output()
    run_dir = first.parent.parent
    hit, after = cells_of(run_dir)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.DATABASE_RESTARTED, hit.validity
    assert hit.validity.reasons[0].message.startswith("database restarted: the postmaster")
    print(f"{variant}: {hit.errors} errors of {hit.requests}; failures {hit.failures}")
    assert after.validity.valid, after.validity
    assert after.errors == 0 and after.requests > 0
    # no restart of the app: the second cell was served by the very same processes
    assert app_pids(run_dir / "cells" / after.spec.cell_id) == app_pids(first)
    assert_nothing_left(watch, lab)
    # the report carries the mark
    report = lab.run("report", str(run_dir), "--out", str(lab.results.parent / "reports"))
    assert report.returncode == 0, report.stderr
    html = (lab.results.parent / "reports" / run_dir.name / "index.html").read_text()
    assert "database restarted" in html and hit.spec.cell_id in html


def test_app_server_killed_mid_cell(lab: Lab) -> None:
    watch = RunWatch(lab, ("--variants", "fastapi-async", *TWO_CELLS)).start()
    try:
        first = watch.wait_for_swarm(1)
        master = app_master(watch)
        workers = master.children(recursive=True)
        assert workers, "uvicorn runs worker processes under its master"
        time.sleep(3)
        os.kill(master.pid, signal.SIGKILL)  # the master only: its workers are orphaned
        code = watch.finish()
    finally:
        watch.close()
    assert code == 0, watch.output()
    run_dir = first.parent.parent
    hit, after = cells_of(run_dir)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.APP_DIED, hit.validity
    assert hit.validity.reasons[0].message.startswith("app process died: fastapi-async")
    assert "killed by signal 9" in hit.validity.reasons[0].message
    print(f"app killed: {hit.requests} requests, {hit.errors} errors, {hit.validity.reasons}")
    # the next cell ran on a new server
    assert after.validity.valid and after.errors == 0 and after.requests > 0, after.validity
    assert master.pid not in app_pids(run_dir / "cells" / after.spec.cell_id)
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert any("died during" in c and "started again" in c for c in manifest.caveats)
    for orphan in workers:  # the orphaned uvicorn workers were reaped with the rest
        assert not psutil.pid_exists(orphan.pid) or orphan.status() == psutil.STATUS_ZOMBIE
    assert_nothing_left(watch, lab)


def test_locust_worker_killed_mid_cell(lab: Lab) -> None:
    watch = RunWatch(lab, ("--variants", "flask-sync", *TWO_CELLS)).start()
    try:
        first = watch.wait_for_swarm(1)
        worker = watch.one_child("locust", "--worker")
        time.sleep(3)
        worker.kill()
        code = watch.finish()
    finally:
        watch.close()
    assert code == 0, watch.output()
    run_dir = first.parent.parent
    hit, after = cells_of(run_dir)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.WORKER_LOST, hit.validity
    assert hit.validity.reasons[0].message.startswith("load generator worker lost: locust-worker-")
    print(f"worker killed: {hit.requests} requests, {hit.validity}")
    assert after.validity.valid and after.requests > 0, after.validity
    assert_nothing_left(watch, lab)

    # the recorded run is sealed: a report builds, and refuses once a cell file changed
    out = str(lab.results.parent / "reports")
    assert lab.run("report", str(run_dir), "--out", out).returncode == 0
    target = run_dir / "cells" / after.spec.cell_id / "measurement.json"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    target.write_bytes(bytes(data))
    for command in (("report", str(run_dir), "--out", out), ("summarize", str(run_dir))):
        refused = lab.run(*command)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
        error, fix = refused.stderr.strip().split("\n  fix: ")  # one line, then the fix
        assert error.startswith("error: run ") and "\n" not in error, error
        assert "measurement.json does not match its sha256" in error
        assert "restore the folder" in fix


def test_no_report_for_a_run_whose_manifest_lost_a_file(lab: Lab, tmp_path: Path) -> None:
    """A copy that misses a recorded file is refused too (the fast path: no run needed)."""
    from loadlab.core.integrity import cell_checksums
    from loadlab.core.results import write_json_atomic

    fixture = REPO / "tests" / "report" / "fixtures" / "run-small"
    copy = tmp_path / "run-small"
    subprocess.run(["cp", "-r", str(fixture), str(copy)], check=True)
    manifest = Manifest.model_validate_json((copy / "manifest.json").read_text())
    cell = sorted((copy / "cells").iterdir())[0]
    manifest.checksums = {cell.name: cell_checksums(cell)}
    write_json_atomic(copy / "manifest.json", manifest)
    assert lab.run("summarize", str(copy)).returncode == 0
    (cell / "resources.csv").unlink()
    refused = lab.run("summarize", str(copy))
    assert refused.returncode == 2 and "resources.csv (missing)" in refused.stderr
    assert json.loads((copy / "summary.json").read_text())  # left as it was
