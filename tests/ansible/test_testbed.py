"""The playbooks against real booted hosts: converge site.yml on a three-host test bed, run a
tiny matrix with `loadlab run --backend ansible` (the runner driving lab.yml, serve.yml,
cell.yml and stop.yml), build its report, and converge
again with nothing to change."""

from __future__ import annotations

import secrets
import shlex
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loadlab.core.registry import load_registry
from loadlab.core.results import read_manifest, read_summary
from loadlab.core.verdicts import Verdict
from tests.ansible.conftest import REPO, TESTBED_SH, Bed, PlaybookRun, ansible_env, run_playbook

# A converge from scratch takes minutes (packages, a venv per node); the default per-test
# timeout of pyproject.toml is too short for the whole story.
pytestmark = [pytest.mark.testbed, pytest.mark.timeout(2700)]

VARIANTS = ["flask-sync", "fastapi-async"]


def node(bed: Bed, host: str, command: str) -> str:
    done = subprocess.run(
        ["bash", str(TESTBED_SH), "ssh", host, command], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, f"{host}: {command}: {done.stderr}"
    return done.stdout


def say(what: str) -> None:
    print(what, file=sys.stderr)


def report(what: str, run: PlaybookRun) -> None:
    say(f"\n{what}: {run.seconds:.0f}s, exit {run.returncode}\n{run.recap_lines}")


def web_page(url: str, within_s: float = 30) -> bool:
    """The master's UI answers once its process has started (a second or two into the cell)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                return page.status == 200 and b"locust" in page.read().lower()
        except OSError:
            time.sleep(0.5)
    return False


def loadlab(
    *args: str, env: dict[str, str], timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadlab.cli.app", *args],
        cwd=REPO,
        env={**env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_converge_bench_and_converge_again(testbed: Bed, tmp_path: Path) -> None:
    env = ansible_env(LOADLAB_DB_PASSWORD=secrets.token_hex(16))
    source = f"loadlab_source_dir={testbed.source}"
    common = ["-i", str(testbed.inventory), "-e", source]
    say(f"\ntest bed booted in {testbed.boot_seconds:.0f}s")

    first = run_playbook("site.yml", *common, env=env)
    report("first converge of site.yml", first)
    assert first.returncode == 0, f"site.yml failed:\n{first.tail(80)}"
    assert set(first.recap) == {"tb1", "tb2", "tb3"}

    # The units on the app node run the registry's command lines.
    for name, variant in load_registry().items():
        unit = node(testbed, "tb2", f"systemctl cat loadlab-app-{name}.service")
        exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
        argv = shlex.split(exec_start.removeprefix("ExecStart="))
        assert argv[1:] == variant.render(host="0.0.0.0", port=8000, workers=1, pool_size=4)[1:]
    # Postgres admits the lab's hosts only, with a password.
    hba = node(testbed, "tb1", "grep -v '^#' /etc/postgresql/15/main/pg_hba.conf")
    assert "10.213.37.12/32" in hba and "10.213.37.13/32" in hba and " trust" not in hba

    # A tiny matrix, as a user runs it: the runner drives the playbooks.
    results = tmp_path / "results"
    bench = loadlab(
        "run", "--backend", "ansible", "-i", str(testbed.inventory),
        "--variants", ",".join(VARIANTS), "--workloads", "db-read", "--users", "4",
        "--repeats", "1", "--duration", "5", "--warmup", "1", "--scale", "0.001",
        # the inventory's sizes: serve.yml renders the units with the run's, and the second
        # converge would rightly put the inventory's back
        "--app-workers", "1", "--pool-size", "4",
        "--no-verify", "--results", str(results), "--no-report",
        env={**env, "LOADLAB_ANSIBLE_ARGS": f"-e {source}"},
    )  # fmt: skip
    say(f"\nloadlab run --backend ansible: exit {bench.returncode}\n{bench.stdout[-3000:]}")
    assert bench.returncode == 0, f"bench failed:\n{bench.stdout[-6000:]}\n{bench.stderr[-3000:]}"

    (run_dir,) = list(results.iterdir())
    manifest = read_manifest(run_dir)
    assert manifest.backend == "ansible"
    assert set(manifest.topology["hosts"]) == {"tb1", "tb2", "tb3"}
    assert manifest.topology["hosts"]["tb3"]["roles"] == ["locust_master", "locust_workers"]
    assert manifest.data["scale"] == 0.001
    assert any("test bed" in caveat for caveat in manifest.caveats)
    assert set(manifest.variants) == set(VARIANTS)
    assert manifest.variants["flask-sync"].pool_size == 4 and manifest.config["pool_size"] == 4
    # the runner's own records: the order, the sealed cells, the playbooks' logs
    assert manifest.order["sequence"] and set(manifest.checksums or {}) == set(
        manifest.order["sequence"]
    )
    assert (run_dir / "ansible" / "cell.log").exists()
    summary = read_summary(run_dir)
    assert sorted(c.spec.variant for c in summary.cells) == sorted(VARIANTS)
    for cell in summary.cells:
        cell_dir = run_dir / "cells" / cell.spec.cell_id
        for name in ("cell.json", "measurement.json", "resources.csv", "locust_stats.csv",
                     "pg_stat_statements.json"):  # fmt: skip
            assert (cell_dir / name).exists(), f"{cell.spec.cell_id} lacks {name}"
        assert cell.requests > 0, f"{cell.spec.cell_id}: no request completed"
        assert cell.errors == 0, f"{cell.spec.cell_id}: {cell.failures}"
        assert {"app", "postgres", "locust-master", "locust-worker"} <= set(cell.resources)
        assert cell.statements_per_request, f"{cell.spec.cell_id}: no statements recorded"
    say(
        "bench: "
        + "; ".join(
            f"{c.spec.variant} {c.throughput_rps:.0f} req/s p99 {c.latency.p99:.1f} ms"
            for c in summary.cells
        )
    )

    reports = tmp_path / "reports"
    built = loadlab("report", str(run_dir), "--out", str(reports), "--name", "testbed", env=env)
    assert built.returncode == 0, f"loadlab report failed:\n{built.stdout}\n{built.stderr}"
    assert (reports / "testbed" / "index.html").exists()

    # A unit that dies mid-cell is a fault: recorded, and the cell is marked invalid; the
    # run is watched live with --web meanwhile.
    faulted = tmp_path / "faulted"
    run = subprocess.Popen(
        [sys.executable, "-m", "loadlab.cli.app", "run", "--backend", "ansible",
         "-i", str(testbed.inventory), "--variants", "flask-sync", "--workloads", "db-read",
         "--users", "4", "--repeats", "1", "--duration", "20", "--warmup", "1",
         "--scale", "0.001", "--app-workers", "1", "--pool-size", "4", "--no-verify",
         "--results", str(faulted), "--no-report", "--web"],
        cwd=REPO, env={**env, "LOADLAB_ANSIBLE_ARGS": f"-e {source}", "COLUMNS": "200"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and run.poll() is None:
        logs = list(faulted.glob("*/ansible/cell.log"))
        if logs and "Wait for the master to stop itself" in logs[0].read_text():
            break
        time.sleep(0.5)
    time.sleep(3)  # into the measured window
    # --web: the master's own UI, on this machine's loopback through an SSH tunnel
    web = read_manifest(next(faulted.iterdir())).topology["locust_web"]
    tunnel_log = next(faulted.glob("*/ansible/web-tunnel.log"))
    tunnels = subprocess.run(["pgrep", "-af", "ssh -N"], capture_output=True, text=True).stdout
    assert web_page(web), f"no Locust web UI at {web}:\n{tunnel_log.read_text()}\n{tunnels}"
    main_pid = "systemctl show --property=MainPID --value loadlab-app-flask-sync.service"
    node(testbed, "tb2", f"kill -KILL $({main_pid})")
    output, _ = run.communicate(timeout=600)
    say(f"\nthe faulted run: exit {run.returncode}\n{output[-2000:]}")
    assert run.returncode == 0, output[-4000:]
    (faulted_dir,) = list(faulted.iterdir())
    (cell,) = read_summary(faulted_dir).cells
    assert not cell.validity.valid
    assert Verdict.APP_DIED in {r.code for r in cell.validity.reasons}, cell.validity.reasons
    assert (faulted_dir / "cells" / cell.spec.cell_id / "faults.json").exists()

    again = run_playbook("site.yml", *common, env=env)
    report("second converge of site.yml", again)
    assert again.returncode == 0, f"second site.yml failed:\n{again.tail(80)}"
    changed = {host: counts["changed"] for host, counts in again.recap.items()}
    assert changed == {"tb1": 0, "tb2": 0, "tb3": 0}, f"not idempotent:\n{again.recap_lines}"

    checked = run_playbook("site.yml", *common, "--check", env=env)
    report("site.yml --check", checked)
    assert checked.returncode == 0, f"site.yml --check failed:\n{checked.tail(80)}"
    assert all(c["changed"] == 0 for c in checked.recap.values()), checked.recap_lines
