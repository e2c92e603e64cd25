"""The emulated database link: a real namespace, veth pair and delay, a real PostgreSQL behind
it, and nothing left over afterwards. Needs root (namespaces, veth, tc)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from loadlab.core.config import NetworkEmulation
from loadlab.core.errors import LabError
from loadlab.core.results import Manifest, Summary
from loadlab.deployments.local import place_behind
from loadlab.deployments.netem import (
    OWNERS,
    EmulatedLink,
    emulated_link,
    free_subnet,
    lab_namespaces,
    sweep_stale,
)
from loadlab.deployments.postgres import PostgresCluster
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _group(pid: int) -> int:
    """The process group: the postmaster leads its own, with its backends in it."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, IndexError, ValueError):
        return -1


def _link_exists(name: str) -> bool:
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    home = Path(tempfile.mkdtemp(prefix="loadlab-link-"))
    # traversable by the cluster owner, or PostgresCluster moves it to the shared /var/tmp
    home.chmod(0o755)
    cluster = PostgresCluster(home=home / "pg")
    try:
        cluster.init()
        yield cluster
    finally:
        cluster.purge()
        shutil.rmtree(home, ignore_errors=True)


def _median_behind(cluster: PostgresCluster, rtt_ms: float, tmp: Path) -> tuple[float, str]:
    with emulated_link(NetworkEmulation(db_rtt_ms=[rtt_ms]), tmp) as link:
        place_behind(cluster, link)
        try:
            with cluster.running():
                link.expose(int(cluster.port or 0))
                pids = subprocess.run(
                    ["ip", "netns", "pids", link.namespace], capture_output=True, text=True
                ).stdout.split()
                assert str(cluster.postmaster_pid()) in pids  # the database is in the namespace
                assert link.db_address in cluster.dsn()
                link.set_rtt(rtt_ms)
                measured = link.measure(cluster.dsn(), samples=100)
                # the admin DSN (Unix socket) still reaches it from the root namespace
                assert cluster.version()
        finally:
            cluster.netns, cluster.listen_address, cluster.host = None, "127.0.0.1", "127.0.0.1"
        return measured["median_ms"], link.emulator


def test_the_link_adds_the_configured_round_trip(cluster: PostgresCluster, tmp_path: Path) -> None:
    median, emulator = _median_behind(cluster, 5.0, tmp_path)
    print(f"\nconfigured 5 ms RTT ({emulator}): measured median {median:.3f} ms")
    assert median >= 5.0 * 0.9
    assert median < 5.0 + 5.0  # the delay, not something absurd on top of it


def test_a_zero_round_trip_adds_nothing(cluster: PostgresCluster, tmp_path: Path) -> None:
    median, emulator = _median_behind(cluster, 0.0, tmp_path)
    print(f"\nconfigured 0 ms RTT ({emulator}): measured median {median:.3f} ms")
    assert median < 5.0  # a generous ceiling: no delay was configured


def test_nothing_is_left_when_the_body_raises(tmp_path: Path) -> None:
    with (
        pytest.raises(RuntimeError),
        emulated_link(NetworkEmulation(db_rtt_ms=[1]), tmp_path) as link,
    ):
        assert link.namespace in lab_namespaces()
        assert _link_exists(link.host_if)
        raise RuntimeError("the body failed")
    assert link.namespace not in lab_namespaces()
    assert not _link_exists(link.host_if)
    assert not (OWNERS / f"{link.namespace}.json").exists()


def test_a_killed_runs_namespace_is_swept(tmp_path: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    link = EmulatedLink("loadlab-deadbe", free_subnet(), NetworkEmulation(db_rtt_ms=[1]), tmp_path)
    OWNERS.mkdir(parents=True, exist_ok=True)
    (OWNERS / f"{link.namespace}.json").write_text(
        f'{{"pid": {int(dead.stdout)}, "host_if": "{link.host_if}"}}'
    )
    try:
        link.create()
        assert link.namespace in lab_namespaces()
        assert link.namespace in sweep_stale()
        assert link.namespace not in lab_namespaces()
        assert not _link_exists(link.host_if)
    finally:
        link.destroy()


def test_without_root_the_error_says_how_to_fix_it() -> None:
    probe = "from loadlab.deployments.netem import require_privileges; require_privileges()"
    done = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--inh-caps=-all",
         sys.executable, "-c", probe],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    if "Permission denied" in done.stderr and "LabError" not in done.stderr:
        pytest.skip("the unprivileged user cannot run this interpreter")
    assert done.returncode != 0
    assert "needs root" in done.stderr and "CAP_NET_ADMIN" in done.stderr
    assert LabError.__name__ in done.stderr


@pytest.mark.slow
def test_a_tiny_rtt_sweep_runs_end_to_end_with_its_chart(lab: Lab, tmp_path: Path) -> None:
    home_cluster = PostgresCluster(home=lab.home / "pg")
    port_before = home_cluster.start() or home_cluster.port  # the session's running cluster
    done = lab.run(
        "run", "--db-rtt", "0,2", "--variants", "flask-sync,fastapi-async",
        "--workloads", "db-read", "--users", "8", "--scale", "0.002",
        "--duration", "2", "--warmup", "1", "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    assert {(a.variant, a.db_rtt_ms) for a in summary.aggregates} == {
        (v, rtt) for v in ("flask-sync", "fastapi-async") for rtt in (0.0, 2.0)
    }
    assert {(r.denominator, r.db_rtt_ms) for r in summary.ratios} == {
        ("flask-sync", 0.0),
        ("flask-sync", 2.0),
    }
    assert all(a.throughput_rps.median > 0 for a in summary.aggregates)
    manifest = Manifest.model_validate_json((run_dir / "manifest.json").read_text())
    link = manifest.topology["db_link"]
    assert link["namespace"].startswith("loadlab-") and link["db_address"].startswith("10.213.")
    measured = link["measured_rtt"]
    assert measured["2"]["median_ms"] >= 2 * 0.9 > measured["0"]["median_ms"]
    assert set(link["qdiscs"]) == {"0", "2"}
    assert link["db_address"] in manifest.postgres["host"]
    verification = json.loads((run_dir / "verification.json").read_text())
    assert all(v["passed"] for v in verification), verification  # over the link, admin DSN too

    built = lab.run("report", str(run_dir), "--out", str(tmp_path / "reports"), "--name", "sweep")
    assert built.returncode == 0, built.stdout + built.stderr
    html = (tmp_path / "reports" / "sweep" / "index.html").read_text()
    assert 'id="chart-rtt-ratios-1"' in html and "Ratio against database round trip" in html
    assert "DB RTT 2 ms" in html

    # the link is gone, nothing runs on, and the session's cluster is back where it was
    assert link["namespace"] not in lab_namespaces()
    assert not _link_exists(link["host_interface"])
    postmaster = home_cluster.running_pid()
    assert postmaster and home_cluster.start() is False
    # the restarted cluster carries the marker (the CLI started it again); nothing else may
    assert [p for p in lab.leftovers() if _group(int(p.split(":")[0])) != postmaster] == []
    assert home_cluster.port == port_before
