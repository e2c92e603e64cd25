"""Seeded data: seed once per (scale, seed, schema), reuse the cluster afterwards."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from loadlab.core.errors import LabError
from loadlab.deployments.postgres import PostgresCluster

SeedProgress = Callable[[str, int, int], None]


def ensure_seeded(
    cluster: PostgresCluster,
    scale: float,
    seed: int,
    progress: SeedProgress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """The data description recorded in the manifest; seeds only when the cluster lacks it."""
    from services import seed as seeding

    wanted = {"scale": scale, "seed": seed, "schema_fingerprint": seeding.schema_fingerprint()}
    recorded = cluster.seed_info
    reuse = not force and all(recorded.get(k) == v for k, v in wanted.items())
    if not reuse:
        result = seeding.seed(cluster.dsn(), scale, seed=seed, progress=progress)
        recorded = {
            **wanted,
            "rows": dict(result.rows),
            "checksum": result.checksum,
            "seed_seconds": round(result.seconds, 1),
            "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        cluster.record_seed(recorded)
    current = seeding.data_checksum(cluster.dsn()) if reuse else recorded["checksum"]
    return {
        **recorded,
        "users": seeding.users_for_scale(scale),
        "reused": reuse,
        "checksum_at_start": current,
        "modified_since_seed": current != recorded["checksum"],
    }


def seed_external(
    dsn: str, scale: float, seed: int, progress: SeedProgress | None = None
) -> dict[str, Any]:
    """Seed a server the lab does not own (compose, Ansible); skipped when the checksum matches."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    from services import seed as seeding

    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise LabError(
            f"--dsn is not a PostgreSQL connection string: {_first_line(exc)}",
            hint="write it as postgresql://USER:PASSWORD@HOST:PORT/DBNAME",
        ) from None
    try:
        result = seeding.seed(dsn, scale, seed=seed, progress=progress)
    except psycopg.OperationalError as exc:
        raise LabError(
            f"cannot reach PostgreSQL at {describe_dsn(dsn)}: {_first_line(exc)}",
            hint="check that the server is running and that host, port, user and password in "
            "--dsn are right (`pg_isready -h HOST -p PORT` tests the first two)",
        ) from None
    return {
        "scale": scale,
        "seed": seed,
        "schema_fingerprint": seeding.schema_fingerprint(),
        "rows": dict(result.rows),
        "checksum": result.checksum,
        "seed_seconds": round(result.seconds, 1),
        "users": seeding.users_for_scale(scale),
    }


def describe_dsn(dsn: str) -> str:
    """host:port/dbname of a connection string, without the password it may hold."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(dsn)
    except Exception:  # a malformed string: say so rather than echo a secret
        return "(an unparsable connection string)"
    return f"{parts.get('host', 'localhost')}:{parts.get('port', 5432)}/{parts.get('dbname', '')}"


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
