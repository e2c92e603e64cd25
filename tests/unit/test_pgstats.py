"""Which statements of a pg_stat_statements delta a request caused (no database needed)."""

from __future__ import annotations

import json

from loadlab.measurement import pgstats


def _change(query: str, calls: int = 1, user: str | None = "loadlab") -> dict[str, object]:
    return {"query": query, "calls": calls, "user": user, "rows": 0, "total_exec_time_ms": 0.0}


def test_the_health_check_and_snapshots_are_not_requests() -> None:
    changes = [
        _change("SELECT $1"),  # the health check, normalised
        _change("select 1;"),
        _change("SELECT queryid, query, calls FROM pg_stat_statements", user="postgres"),
        _change("SELECT $1 FROM users WHERE id = $2", calls=3),  # a request's existence check
        _change("RESET ALL", calls=5),
    ]
    kept = [c["query"] for c in pgstats.request_statements(changes)]
    assert kept == ["SELECT $1 FROM users WHERE id = $2", "RESET ALL"]
    assert pgstats.calls_per_request(changes, 4) == 2.0
    assert pgstats.calls_per_request(changes, 0) is None


def test_only_the_apps_role_counts_when_named() -> None:
    changes = [_change("BEGIN", user="postgres"), _change("COMMIT", user=None), _change("BEGIN")]
    assert [c["user"] for c in pgstats.request_statements(changes, "loadlab")] == [None, "loadlab"]
    assert len(pgstats.request_statements(changes)) == 3


def test_one_statement_of_two_roles_is_two_entries_and_survives_json() -> None:
    before = {
        pgstats._key(-42, 10): {"queryid": -42, "user": "postgres", "query": "q", "calls": 5,
                                "total_exec_time_ms": 0.0, "rows": 0},
        pgstats._key(-42, 16384): {"queryid": -42, "user": "loadlab", "query": "q", "calls": 1,
                                   "total_exec_time_ms": 0.0, "rows": 0},
    }  # fmt: skip
    assert len(before) == 2
    after = {int(k): dict(v) for k, v in json.loads(json.dumps(before)).items()}
    after[pgstats._key(-42, 16384)]["calls"] = 4
    [change] = pgstats.delta(before, after)
    assert (change["queryid"], change["user"], change["calls"]) == (-42, "loadlab", 3)
