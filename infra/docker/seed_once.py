#!/opt/venv/bin/python
"""Seed the database unless it already holds this data: `loadlab db seed` with a marker.

    loadlab-seed --dsn URL --scale S --seed N

The compose file's one-shot `seed` service runs this, so that a second `docker compose up`
(which starts the finished seed container again) does not drop and reload the tables under
running variants. The marker is a comment on the database naming the scale, the RNG seed and
the schema fingerprint; `--force` reseeds regardless.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

import psycopg
from psycopg import sql

from services.seed import schema_fingerprint

MARKER = "loadlab-seed"


def wanted_marker(scale: float, seed: int) -> str:
    return f"{MARKER} scale={scale:g} seed={seed} schema={schema_fingerprint()}"


def current_marker(dsn: str) -> str:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
            "WHERE datname = current_database()"
        ).fetchone()
    return str(row[0]) if row and row[0] else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    wanted = wanted_marker(args.scale, args.seed)
    if not args.force and current_marker(args.dsn) == wanted:
        print(f"data already seeded ({wanted}); nothing to do", flush=True)
        return 0
    command = ["loadlab", "db", "seed", "--dsn", args.dsn,
               "--scale", f"{args.scale:g}", "--seed", str(args.seed)]  # fmt: skip
    print("+ " + " ".join(command).replace(args.dsn, "<dsn>"), flush=True)
    done = subprocess.run(command, check=False)
    if done.returncode != 0:
        return done.returncode
    with psycopg.connect(args.dsn, autocommit=True) as conn:
        name = conn.execute("SELECT current_database()").fetchone()[0]  # type: ignore[index]
        conn.execute(
            sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(name), sql.Literal(wanted))
        )
    print(f"seeded: {wanted}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
