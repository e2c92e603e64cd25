"""The compose database from the orchestrator's side: the seed service's marker, the server's
settings, and when the postmaster started (a database restart changes it)."""

from __future__ import annotations

import json
from typing import Any

import psycopg

from labcontract.dataset import users_for_scale
from loadlab.core.errors import LabError
from loadlab.deployments.compose.stack import ComposeStack

SEED_MARKER_SQL = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"


def read_seed_marker(dsn: str) -> dict[str, Any]:
    """What the seed service recorded on the database (infra/docker/seed_once.py)."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            row = conn.execute(SEED_MARKER_SQL).fetchone()
    except psycopg.Error as error:
        raise LabError(
            f"cannot reach the compose PostgreSQL at {dsn.split('@')[-1]}: {error}"
        ) from None
    try:
        marker = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}
    return marker if isinstance(marker, dict) else {}


def postgres_facts(dsn: str) -> dict[str, Any]:
    """The server's version and the benchmark settings as it reports them (e.g. 512MB)."""
    from loadlab.deployments.postgres import BENCHMARK_SETTINGS

    names = [*BENCHMARK_SETTINGS, "fsync", "synchronous_commit", "server_version"]
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s)", [names]
        ).fetchall()
    settings = {str(name): str(value) for name, value in rows}
    return {"version": settings.get("server_version", ""), "settings": settings}


def postmaster_started(dsn: str) -> str | None:
    """pg_postmaster_start_time(), or None when the server does not answer."""
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def seed(stack: ComposeStack) -> dict[str, Any]:
    """Run the one-shot seed service (a no-op when the volume already holds this data) and
    return the data description for the manifest."""
    settings = stack.settings
    before = read_seed_marker(settings.dsn)
    stack.compose(
        "run", "--rm", "--no-deps", "-T", "seed", timeout=3600, log=stack.log_dir / "seed.log"
    )
    marker = read_seed_marker(settings.dsn)
    info = dict(marker.get("info") or {})
    return {
        "scale": settings.scale,
        "seed": settings.data_seed,
        "schema_fingerprint": marker.get("schema_fingerprint"),
        **{k: v for k, v in info.items() if k not in {"scale", "seed", "schema_fingerprint"}},
        "seeded_at": marker.get("seeded_at"),
        "users": users_for_scale(settings.scale),
        "reused": bool(before) and before.get("seeded_at") == marker.get("seeded_at"),
    }
