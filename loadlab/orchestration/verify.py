"""Verification before measuring, TechEmpower-style: a variant that fails is not benchmarked.

Three checks per variant:
- answers: the same bodies and codes as the other variants for a fixed list of requests;
- statements: over a burst, pg_stat_statements shows the expected number of statements per
  request on the burst's table (within 2%), so a variant that caches answers cannot pass for
  a fast one; every other statement the requests caused (asyncpg's pool reset: four more per
  request) is listed as a warning, as is a variant making more statements than another for
  the same request. They are counted as the measured cells count them
  (loadlab.measurement.pgstats.request_statements);
- persistence: what /updates returns is what the database then holds.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg.conninfo import conninfo_to_dict

from loadlab.core.http import fetch
from loadlab.core.results import ExtraStatement, VerificationResult
from loadlab.measurement import pgstats

TOLERANCE = 0.02


@dataclass(frozen=True)
class Burst:
    """`count` requests to `path`, each expected to run `statements` statements on `table`
    and no other statement."""

    path: str
    count: int
    statements: int
    table: str

    def on_table(self, query: str) -> bool:
        """Does the statement name the table (as a word, the way TechEmpower counts)?"""
        return re.search(rf"\b{re.escape(self.table)}\b", query, re.IGNORECASE) is not None


BURSTS = [
    Burst("/users/1", 200, 1, "users"),  # the same id every time: a cache would answer
    Burst("/db", 200, 1, "world"),
    Burst("/queries?queries=10", 40, 10, "world"),
]


def fixed_requests(dsn: str, users: int) -> list[str]:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT name FROM users WHERE id = 1").fetchone()
    name = row[0] if row else "nobody"
    middle = max(users // 2, 1)
    return [
        "/json",
        "/users/1",
        f"/users/{middle}",
        f"/users/{users}",
        f"/users/{users + 1}",
        "/users/not-a-number",
        "/users/1/orders?limit=5",
        f"/users/{middle}/orders",
        "/users/1/orders?limit=0",
        f"/lookup?name={quote(name)}",
        "/lookup?name=surely-nobody-has-this-name",
        "/lookup",
        "/io?ms=1",
        "/io?ms=-1",
        "/no/such/route",
    ]


def canonical(body: Any) -> str:
    return json.dumps(body, sort_keys=True, default=str)


@dataclass
class Evidence:
    """What one variant answered; judged against the others once all have run."""

    variant: str
    answers: dict[str, tuple[int, str]] = field(default_factory=dict)
    checks: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    statements: dict[str, float] = field(default_factory=dict)  # path -> all, per request
    extra: dict[str, list[ExtraStatement]] = field(default_factory=dict)  # path -> the others


def database_user(dsn: str) -> str | None:
    """The role the variants connect as (None: the dsn does not say)."""
    return conninfo_to_dict(dsn).get("user") or None


def collect(variant: str, base_url: str, dsn: str, admin_dsn: str, users: int) -> Evidence:
    evidence = Evidence(variant)
    for path in fixed_requests(dsn, users):
        status, body = fetch(base_url + path)
        evidence.answers[path] = (status, canonical(body))
    for burst in BURSTS:
        check_statements(evidence, base_url, admin_dsn, burst, user=database_user(dsn))
    check_updates(evidence, base_url, dsn)
    return evidence


def check_statements(
    evidence: Evidence, base_url: str, admin_dsn: str, burst: Burst, user: str | None = None
) -> None:
    """Every statement `user` ran during the burst, but the lab's own: those on the burst's
    table must be `burst.statements` per request (fewer: the variant caches; more: it does
    something else); the others are recorded as extra statements, judged in `judge`."""
    before = pgstats.snapshot(admin_dsn)
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda _: fetch(base_url + burst.path)[0], range(burst.count)))
    changes = pgstats.request_statements(pgstats.delta(before, pgstats.snapshot(admin_dsn)), user)
    calls = sum(c["calls"] for c in changes if burst.on_table(c["query"]))
    evidence.statements[burst.path] = sum(c["calls"] for c in changes) / burst.count
    evidence.extra[burst.path] = [
        ExtraStatement(
            path=burst.path, query=c["query"], calls_per_request=round(c["calls"] / burst.count, 3)
        )
        for c in changes
        if not burst.on_table(c["query"])
    ]
    expected = burst.count * burst.statements
    per_request = calls / burst.count
    others = evidence.statements[burst.path] - per_request
    label = f"statements {burst.path}"
    if any(status != 200 for status in statuses):
        evidence.failures.append(f"{burst.path}: {sum(s != 200 for s in statuses)} non-200 answers")
    if abs(calls - expected) > TOLERANCE * expected:
        evidence.failures.append(
            f"{burst.path}: {per_request:.2f} statements per request on {burst.table}, expected "
            f"{burst.statements} (a variant that caches or batches differently is not comparable)"
        )
        evidence.checks[label] = f"FAIL {per_request:.2f}/request"
    else:
        evidence.checks[label] = f"ok {per_request:.2f}/request"
    if others > 0:
        evidence.checks[label] += f" (+{others:.2f} other)"


def check_updates(evidence: Evidence, base_url: str, dsn: str) -> None:
    """/updates must persist what it returns; the rows are then put back as seeded, so that
    verifying never changes the data set the benchmark runs on."""
    with psycopg.connect(dsn) as conn:
        original = dict(conn.execute("SELECT id, randomnumber FROM world").fetchall())
    status, body = fetch(base_url + "/updates?queries=5")
    try:
        if status != 200 or not isinstance(body, list):
            evidence.failures.append(f"/updates?queries=5 answered {status}")
            evidence.checks["updates persist"] = "FAIL"
            return
        with psycopg.connect(dsn) as conn:
            stored = dict(
                conn.execute(
                    "SELECT id, randomnumber FROM world WHERE id = ANY(%s)",
                    [[r["id"] for r in body]],
                ).fetchall()
            )
        lost = [r["id"] for r in body if stored.get(r["id"]) != r["randomNumber"]]
        if lost:
            evidence.failures.append(f"/updates did not persist rows {lost}")
            evidence.checks["updates persist"] = "FAIL"
        else:
            evidence.checks["updates persist"] = "ok"
    finally:
        with psycopg.connect(dsn) as conn:
            changed = dict(conn.execute("SELECT id, randomnumber FROM world").fetchall())
            restore = [(original[i], i) for i, value in changed.items() if original.get(i) != value]
            with conn.cursor() as cursor:
                cursor.executemany("UPDATE world SET randomnumber = %s WHERE id = %s", restore)


def statement_warnings(item: Evidence, evidence: list[Evidence]) -> list[str]:
    """A warning per burst on which the variant made more statements per request than
    expected, or than another variant: what the extra statements were, per request."""
    warnings = []
    for burst in BURSTS:
        if burst.path not in item.statements:
            continue
        total = item.statements[burst.path]
        fewest = min(
            (e for e in evidence if burst.path in e.statements),
            key=lambda e: e.statements[burst.path],
        )
        beyond_others = total > fewest.statements[burst.path] * (1 + TOLERANCE)
        extra = item.extra.get(burst.path, [])
        if not extra and not beyond_others:
            continue
        text = f"{burst.path}: {total:.2f} statements per request, expected {burst.statements}"
        if beyond_others:
            text += f" ({fewest.variant} makes {fewest.statements[burst.path]:.2f})"
        if extra:
            listed = ", ".join(f"{e.query!r} {e.calls_per_request:.2f}" for e in extra)
            text += f"; extra statements per request: {listed}"
        warnings.append(text)
    return warnings


def judge(evidence: list[Evidence]) -> list[VerificationResult]:
    """Each answer is compared with the majority of the variants (ties: the first variant's).
    Extra statements are warnings: they cost round trips, and a stock driver may make them."""
    results = []
    for item in evidence:
        failures = list(item.failures)
        for path, answer in item.answers.items():
            votes = Counter(e.answers.get(path) for e in evidence)
            reference, _ = votes.most_common(1)[0]
            if len(evidence) > 1 and answer != reference:
                status, body = reference or (0, "")
                failures.append(
                    f"GET {path}: answered {answer[0]} {answer[1][:120]}, "
                    f"the other variants {status} {body[:120]}"
                )
        item.checks["answers"] = "ok" if len(failures) == len(item.failures) else "FAIL"
        results.append(
            VerificationResult(
                variant=item.variant,
                passed=not failures,
                checks=item.checks,
                failures=failures,
                warnings=statement_warnings(item, evidence),
                extra_statements=[e for burst in BURSTS for e in item.extra.get(burst.path, [])],
            )
        )
    return results
