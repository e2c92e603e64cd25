"""Verification counts every statement a request causes, against real variants.

asyncpg's pool resets a connection on every release (four statements, one more round trip
per request); verification must see them, list them as a warning (not a failure: that is
stock asyncpg), and count statements the way the measured cells do.
"""

from __future__ import annotations

import csv
import re
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from loadlab.core.registry import Knobs, get_variant, variant_names
from loadlab.core.results import VerificationResult
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.postgres import PostgresCluster
from loadlab.measurement import analysis, pgstats
from loadlab.orchestration import verify
from services.seed import SeedResult
from tests.contract.conftest import POOL_SIZE, WORKERS, Facts

pytestmark = pytest.mark.slow

# What asyncpg's default reset runs on release, as pg_stat_statements records it.
RESET_STATEMENTS = {"SELECT pg_advisory_unlock_all()", "CLOSE ALL", "UNLISTEN *", "RESET ALL"}


def _resets(knobs: Knobs) -> bool:
    return bool(knobs.get("asyncpg_reset", False))


def _cases() -> list[tuple[str, Knobs]]:
    """Every variant as it stands (stock), and with asyncpg's reset off where it has one."""
    cases: list[tuple[str, Knobs]] = []
    for name in variant_names():
        cases.append((name, {}))
        if "asyncpg_reset" in get_variant(name).knobs:
            cases.append((name, {"asyncpg_reset": False}))
    return cases


def _id(case: tuple[str, Knobs]) -> str:
    name, knobs = case
    return name + "".join(f"-{k}={v}" for k, v in knobs.items())


@pytest.fixture(scope="module")
def log_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="loadlab-verification-logs-") as path:
        yield Path(path)


class Started:
    """One variant with the given knobs, up for one test."""

    def __init__(self, server: AppServer) -> None:
        self.server = server
        self.name = server.variant.name
        self.knobs: Knobs = dict(server.knobs or {})


@pytest.fixture(params=_cases(), ids=_id)
def started(
    request: pytest.FixtureRequest, cluster: PostgresCluster, seeded: SeedResult, log_dir: Path
) -> Iterator[Started]:
    name, knobs = request.param
    with AppServer(
        variant=get_variant(name),
        database_url=cluster.dsn(),
        log_dir=log_dir,
        workers=WORKERS,
        pool_size=POOL_SIZE,
        knobs=knobs,
    ) as server:
        yield Started(server)


def _verify(started: Started, cluster: PostgresCluster, facts: Facts) -> VerificationResult:
    evidence = verify.collect(
        started.name, started.server.url, cluster.dsn(), cluster.admin_dsn(), facts.users
    )
    [result] = verify.judge([evidence])
    return result


def test_extra_statements_are_a_warning(
    started: Started, cluster: PostgresCluster, facts: Facts
) -> None:
    result = _verify(started, cluster, facts)
    assert result.passed, result.failures
    if not _resets(started.knobs):
        assert result.warnings == [], f"{started.name} {started.knobs}: {result.warnings}"
        assert result.extra_statements == []
        return
    # the reset: each of its four statements once per request, on every burst
    for burst in verify.BURSTS:
        extra = {
            e.query: e.calls_per_request for e in result.extra_statements if e.path == burst.path
        }
        assert extra == dict.fromkeys(RESET_STATEMENTS, 1.0), f"{burst.path}: {extra}"
        [warning] = [w for w in result.warnings if w.startswith(f"{burst.path}:")]
        assert f"{burst.statements + 4:.2f} statements per request" in warning, warning
        for statement in RESET_STATEMENTS:
            assert repr(statement) in warning, warning
    assert len(result.warnings) == len(verify.BURSTS)


def test_verification_and_the_cells_count_alike(started: Started, cluster: PostgresCluster) -> None:
    """A burst written as a measured cell is (pg_stat_statements.json, locust_stats.csv):
    analysis.statements_per_request gives what verification gives for the same delta."""
    burst = verify.Burst("/db", 100, 1, "world")
    before = pgstats.snapshot(cluster.admin_dsn())
    with httpx.Client(base_url=started.server.url) as client, ThreadPoolExecutor(8) as pool:
        statuses = set(pool.map(lambda _: client.get(burst.path).status_code, range(burst.count)))
    changes = pgstats.delta(before, pgstats.snapshot(cluster.admin_dsn()))
    assert statuses == {200}

    verification = pgstats.calls_per_request(
        changes, burst.count, verify.database_user(cluster.dsn())
    )
    with tempfile.TemporaryDirectory() as tmp:
        cell = Path(tmp)
        (cell / "pg_stat_statements.json").write_text(verify.canonical(changes))
        with (cell / "locust_stats.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["Type", "Name", "Request Count"])
            writer.writerow(["GET", burst.path, burst.count])
            writer.writerow(["", "Aggregated", burst.count])
        measured = analysis.statements_per_request(cell)
    expected = 1 + (len(RESET_STATEMENTS) if _resets(started.knobs) else 0)
    assert verification == pytest.approx(expected), changes
    assert measured == pytest.approx(verification), changes


def test_more_statements_than_another_variant_is_named(
    cluster: PostgresCluster, facts: Facts, log_dir: Path
) -> None:
    """Judged together, the variant with the reset is compared with the one without."""
    evidence = []
    for knobs in ({"asyncpg_reset": True}, {"asyncpg_reset": False}):
        with AppServer(
            variant=get_variant("fastapi-async"),
            database_url=cluster.dsn(),
            log_dir=log_dir,
            workers=WORKERS,
            pool_size=POOL_SIZE,
            knobs=knobs,
        ) as server:
            evidence.append(
                verify.collect(
                    f"reset-{knobs['asyncpg_reset']}",
                    server.url,
                    cluster.dsn(),
                    cluster.admin_dsn(),
                    facts.users,
                )
            )
    with_reset, without = verify.judge(evidence)
    assert with_reset.passed and without.passed
    assert without.warnings == []
    [db_warning] = [w for w in with_reset.warnings if w.startswith("/db:")]
    assert re.search(r"\(reset-False makes 1\.00\)", db_warning), db_warning
