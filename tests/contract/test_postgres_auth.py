"""The private cluster's secure defaults: a password generated for this cluster and kept
mode 0600, password (scram-sha-256) authentication for every host connection, and a
postmaster listening on 127.0.0.1 only."""

from __future__ import annotations

import stat

import psycopg
import pytest

from loadlab.deployments.postgres import DB_USER, PASSWORD_FILE, PostgresCluster

pytestmark = pytest.mark.slow


def test_the_password_is_generated_and_private(cluster: PostgresCluster) -> None:
    path = cluster.home / PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().strip()
    assert len(password) >= 24 and password == cluster.password
    assert password not in {"loadlab", "postgres", "password"}
    with psycopg.connect(cluster.dsn()) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (DB_USER,)


def test_host_connections_need_the_password(cluster: PostgresCluster) -> None:
    wrong = cluster.dsn().replace(cluster.password, "loadlab")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5).close()
    without = cluster.dsn().replace(f":{cluster.password}@", "@")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(without, connect_timeout=5, passfile="/dev/null").close()


def test_no_trust_for_host_connections_and_loopback_only(cluster: PostgresCluster) -> None:
    with psycopg.connect(cluster.admin_dsn()) as conn:
        rules = conn.execute(
            "SELECT type, auth_method FROM pg_hba_file_rules WHERE error IS NULL"
        ).fetchall()
        (listen,) = conn.execute("SHOW listen_addresses").fetchone()
        (encryption,) = conn.execute("SHOW password_encryption").fetchone()
    host_methods = {method for kind, method in rules if kind.startswith("host")}
    assert host_methods == {"scram-sha-256"}, rules
    assert listen == cluster.listen_address == "127.0.0.1"
    assert encryption == "scram-sha-256"


def test_a_restart_brings_the_role_back_to_the_password_on_disk(
    cluster: PostgresCluster,
) -> None:
    """A cluster made by an older lab (role password "loadlab") takes the generated one."""
    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {DB_USER} PASSWORD 'loadlab'")
    again = PostgresCluster(home=cluster.home, settings=dict(cluster.settings))
    assert again.start() is False  # already running: reused, not restarted
    with psycopg.connect(again.dsn()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
