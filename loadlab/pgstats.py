"""pg_stat_statements snapshots, and the per-statement deltas over a cell."""

from __future__ import annotations

from typing import Any

import psycopg

SNAPSHOT = """
SELECT queryid, query, calls, total_exec_time, rows
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
"""


def snapshot(admin_dsn: str) -> dict[int, dict[str, Any]]:
    with psycopg.connect(admin_dsn) as conn:
        rows = conn.execute(SNAPSHOT).fetchall()
    return {
        int(queryid): {
            "query": query,
            "calls": int(calls),
            "total_exec_time_ms": float(t),
            "rows": int(n),
        }
        for queryid, query, calls, t, n in rows
        if queryid is not None
    }


def delta(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    changes = []
    for queryid, now in after.items():
        then = before.get(queryid, {"calls": 0, "total_exec_time_ms": 0.0, "rows": 0})
        calls = now["calls"] - then["calls"]
        if calls > 0:
            changes.append(
                {
                    "queryid": queryid,
                    "query": now["query"],
                    "calls": calls,
                    "total_exec_time_ms": round(
                        now["total_exec_time_ms"] - then["total_exec_time_ms"], 3
                    ),
                    "rows": now["rows"] - then["rows"],
                }
            )
    return sorted(changes, key=lambda c: -c["calls"])
