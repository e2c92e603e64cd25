"""pg_stat_statements snapshots, the per-statement deltas over a cell, and which of those
statements a request caused.

Verification (loadlab/orchestration/verify.py) and the measured cells (loadlab/measurement/analysis.py) count the same
way: every statement in the delta is a request's, except the lab's own. The lab's own are the
snapshot query (it names pg_stat_statements and is left out of every snapshot; it runs in
autocommit, so it adds no BEGIN/COMMIT) and the health check's ``SELECT 1``; nothing else
runs during a burst or a cell. Statements a driver
adds by itself (asyncpg's pool reset, BEGIN/COMMIT) count: they are round trips a request
pays for.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import psycopg

SNAPSHOT = """
SELECT s.queryid, s.userid, pg_get_userbyid(s.userid), s.query, s.calls, s.total_exec_time, s.rows
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.query NOT ILIKE '%pg_stat_statements%'
"""

# The health check (services/sql/statements.py PING), as pg_stat_statements normalises it.
HEALTH_CHECK = re.compile(r"\s*select\s+(\$1|1)\s*;?\s*", re.IGNORECASE)


def _key(queryid: int, userid: int) -> int:
    """pg_stat_statements keeps one entry per (user, query): the same statement run by two
    roles is two entries with one queryid. The key packs both (a user's oid is 32 bits) and
    stays an int, so snapshots written as JSON read back the same."""
    return (queryid << 32) | userid


def snapshot(admin_dsn: str) -> dict[int, dict[str, Any]]:
    # autocommit: in a transaction the snapshot's own BEGIN and COMMIT would be counted
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        rows = conn.execute(SNAPSHOT).fetchall()
    return {
        _key(int(queryid), int(userid)): {
            "queryid": int(queryid),
            "user": user,
            "query": query,
            "calls": int(calls),
            "total_exec_time_ms": float(t),
            "rows": int(n),
        }
        for queryid, userid, user, query, calls, t, n in rows
        if queryid is not None
    }


def delta(
    before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]
) -> list[dict[str, Any]]:
    changes = []
    for key, now in after.items():
        then = before.get(key, {"calls": 0, "total_exec_time_ms": 0.0, "rows": 0})
        calls = now["calls"] - then["calls"]
        if calls > 0:
            changes.append(
                {
                    "queryid": now.get("queryid", key),
                    "user": now.get("user"),
                    "query": now["query"],
                    "calls": calls,
                    "total_exec_time_ms": round(
                        now["total_exec_time_ms"] - then["total_exec_time_ms"], 3
                    ),
                    "rows": now["rows"] - then["rows"],
                }
            )
    return sorted(changes, key=lambda c: -c["calls"])


def is_lab_statement(query: str) -> bool:
    """The lab's own statements: a snapshot, or the health check."""
    return "pg_stat_statements" in query.lower() or bool(HEALTH_CHECK.fullmatch(query))


def request_statements(
    changes: Iterable[dict[str, Any]], user: str | None = None
) -> list[dict[str, Any]]:
    """The statements of a delta that requests caused. `user`: only that role's (the app's
    database user); a change that records no user (a cell written before users were) counts."""
    return [
        c
        for c in changes
        if not is_lab_statement(str(c.get("query", "")))
        and (user is None or c.get("user") in (None, user))
    ]


def calls_per_request(
    changes: Iterable[dict[str, Any]], requests: int, user: str | None = None
) -> float | None:
    """All the statements requests caused, per request; None without requests."""
    if requests <= 0:
        return None
    return sum(int(c.get("calls", 0)) for c in request_statements(changes, user)) / requests
