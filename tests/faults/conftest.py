"""Faults injected from outside into real runs: the e2e lab (a seeded private cluster that
every `loadlab` invocation of the session reuses) and a way to restart that cluster, and a
compose run (tests/compose/conftest.py) for the same faults in containers."""

from __future__ import annotations

from pathlib import Path

from loadlab.deployments.postgres import PostgresCluster
from tests.compose.conftest import compose_run, docker_engine  # noqa: F401  (compose's fixtures)
from tests.e2e.conftest import lab, lab_home  # noqa: F401  (fixtures shared with the e2e tests)


def restart_postgres(home: Path) -> None:
    """What an operator does: `pg_ctl restart -m fast` on the lab's own cluster. Every
    connection is terminated; the postmaster comes back on the same port."""
    cluster = PostgresCluster(home=home / "pg")
    done = cluster._run_as_owner(
        [
            str(cluster.bindir / "pg_ctl"), "restart", "-w", "-m", "fast",
            "-D", str(cluster.data_dir),
            "-l", str(cluster.log_path),  # else the new server holds our stdout pipe open
        ],
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
