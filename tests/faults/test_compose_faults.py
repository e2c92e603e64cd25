"""The faults of test_faults.py on the compose backend, injected from outside as an operator
(or the kernel) would: the app's container is killed, a Locust worker's container is
killed, the database's container restarts. The cell is marked invalid, the run carries on
with the next cell, and nothing of the run's compose project is left."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from loadlab.core.results import CellResult, Manifest
from loadlab.core.verdicts import Verdict
from tests.compose.conftest import LABEL, REPO, ComposeRun
from tests.faults.test_faults import cells_of

pytestmark = [pytest.mark.compose, pytest.mark.slow, pytest.mark.timeout(2400)]

TWO_CELLS = (
    "--scale", "0.002", "--workloads", "db-read", "--users", "8", "--repeats", "2",
    "--duration", "6", "--warmup", "1", "--locust-workers", "2", "--no-verify", "--no-report",
)  # fmt: skip


def containers(run: ComposeRun, service: str) -> list[str]:
    done = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label={LABEL}={run.project}",
         "--filter", f"label=com.docker.compose.service={service}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@contextmanager
def running(run: ComposeRun, *args: str) -> Iterator[subprocess.Popen[str]]:
    log = (run.results.parent / "run-output.txt").open("w")
    process = subprocess.Popen(
        run.command("run", "--backend", "compose", *args),
        cwd=REPO,
        env=run.env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    log.close()
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()


def output(run: ComposeRun) -> str:
    return (run.results.parent / "run-output.txt").read_text()[-5000:]


def wait_for_first_swarm(run: ComposeRun, process: subprocess.Popen[str]) -> Path:
    """The first cell's folder, once its Locust master and workers run."""
    deadline = time.monotonic() + 1500  # the first run here builds the images
    while time.monotonic() < deadline and process.poll() is None:
        found = sorted(run.results.glob("*/cells/*/compose.cell.yml"))
        if (
            found
            and containers(run, "locust-master")
            and len(containers(run, "locust-worker")) == 2
        ):
            return found[0].parent
        time.sleep(0.3)
    pytest.fail(f"the run never reached its first cell:\n{output(run)}")


def _hit_and_after(
    run: ComposeRun, process: subprocess.Popen[str], first: Path
) -> tuple[Path, CellResult, CellResult]:
    assert process.wait(timeout=900) == 0, output(run)
    assert run.leftovers() == {}, "the run removed its containers, network and volume"
    run_dir = first.parent.parent
    hit, after = cells_of(run_dir)
    assert hit.spec.cell_id == first.name
    return run_dir, hit, after


def test_app_container_killed_mid_cell(compose_run: ComposeRun) -> None:
    with running(compose_run, "--variants", "fastapi-async", *TWO_CELLS) as process:
        first = wait_for_first_swarm(compose_run, process)
        [app] = containers(compose_run, "fastapi-async")
        time.sleep(3)  # past the warm-up, inside the measured window
        subprocess.run(["docker", "kill", app], check=True, capture_output=True, timeout=60)
        run_dir, hit, after = _hit_and_after(compose_run, process, first)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.APP_DIED, hit.validity
    assert hit.validity.reasons[0].message.startswith("app process died: fastapi-async")
    assert "killed by signal 9" in hit.validity.reasons[0].message
    print(f"app killed: {hit.requests} requests, {hit.errors} errors, {hit.validity.reasons}")
    # the next cell ran in a new container
    assert after.validity.valid and after.errors == 0 and after.requests > 0, after.validity
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    assert any("died during" in c and "started again" in c for c in manifest.caveats)


def test_locust_worker_container_killed_mid_cell(compose_run: ComposeRun) -> None:
    with running(compose_run, "--variants", "flask-sync", *TWO_CELLS) as process:
        first = wait_for_first_swarm(compose_run, process)
        time.sleep(3)
        victim = containers(compose_run, "locust-worker")[0]
        subprocess.run(["docker", "kill", victim], check=True, capture_output=True, timeout=60)
        _, hit, after = _hit_and_after(compose_run, process, first)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.WORKER_LOST, hit.validity
    assert hit.validity.reasons[0].message.startswith("load generator worker lost: locust-worker-")
    print(f"worker killed: {hit.requests} requests, {hit.validity}")
    assert after.validity.valid and after.requests > 0, after.validity


def test_postgres_container_restarted_mid_cell(compose_run: ComposeRun) -> None:
    with running(compose_run, "--variants", "flask-sync", *TWO_CELLS) as process:
        first = wait_for_first_swarm(compose_run, process)
        [postgres] = containers(compose_run, "postgres")
        time.sleep(3)
        subprocess.run(
            ["docker", "restart", "-t", "5", postgres], check=True, capture_output=True, timeout=120
        )
        _, hit, after = _hit_and_after(compose_run, process, first)
    assert not hit.validity.valid
    assert hit.validity.reasons[0].code is Verdict.DATABASE_RESTARTED, hit.validity
    assert hit.validity.reasons[0].message.startswith("database restarted: the postmaster")
    print(f"postgres restarted: {hit.errors} errors of {hit.requests}; {hit.validity.reasons}")
    assert after.validity.valid and after.errors == 0 and after.requests > 0, after.validity
