#!/opt/venv/bin/python
"""Seed the database unless it already holds this data: `loadlab db seed` plus a marker.

    loadlab-seed --dsn URL --scale S --seed N [--force]

The compose file's one-shot `seed` service runs this, so that a second `docker compose up`
(which starts the finished seed container again) does not drop and reload the tables under
running variants. The marker is a JSON comment on the database: the scale, the RNG seed, the
schema fingerprint, and what `loadlab db seed` reported (rows, checksum, seconds), which the
compose backend puts in the run's manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

import psycopg
from psycopg import sql

from services.seed import DEFAULT_SEED, schema_fingerprint

MARKER_SQL = "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()"


def read_marker(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(MARKER_SQL).fetchone()
    try:
        marker = json.loads(row[0]) if row and row[0] else {}
    except ValueError:
        return {}
    return marker if isinstance(marker, dict) else {}


def write_marker(dsn: str, marker: dict[str, Any]) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                sql.Identifier(name), sql.Literal(json.dumps(marker, sort_keys=True))
            )
        )


def reported(output: str) -> dict[str, Any]:
    """The JSON object `loadlab db seed --dsn` prints (rows, checksum, seconds)."""
    start, end = output.find("{"), output.rfind("}")
    if start < 0 or end < start:
        return {}
    try:
        info = json.loads(output[start : end + 1])
    except ValueError:
        return {}
    return info if isinstance(info, dict) else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    wanted = {"scale": args.scale, "seed": args.seed, "schema_fingerprint": schema_fingerprint()}
    current = read_marker(args.dsn)
    if not args.force and all(current.get(k) == v for k, v in wanted.items()):
        print(
            f"data already seeded (scale {args.scale:g}, seed {args.seed}); nothing to do",
            flush=True,
        )
        return 0
    command = ["loadlab", "db", "seed", "--dsn", args.dsn,
               "--scale", f"{args.scale:g}", "--seed", str(args.seed)]  # fmt: skip
    print("$ " + " ".join(command).replace(args.dsn, "<dsn>"), flush=True)
    # a wide console: rich must not fold the printed JSON
    done = subprocess.run(
        command,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "10000"},
        check=False,
    )
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        return done.returncode
    marker = {
        **wanted,
        "seeded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "info": reported(done.stdout),
    }
    write_marker(args.dsn, marker)
    print(f"seeded: scale {args.scale:g}, seed {args.seed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
