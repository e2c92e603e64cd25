"""A real private PostgreSQL, seeded small, and every registered variant started for real
with the command line the lab runs (loadlab/data/variants.toml)."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from loadlab.core.registry import load_registry
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.postgres import BENCHMARK_SETTINGS, PostgresCluster
from services.seed import SeedResult, seed, users_for_scale

SCALE = 0.002  # 2,000 users, 100 products, 2,000 orders: seconds to seed
WORKERS = 2
POOL_SIZE = 10

# Durability buys nothing in a throwaway test cluster and costs seconds on every commit.
TEST_SETTINGS = {
    **BENCHMARK_SETTINGS,
    "shared_buffers": "128MB",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True)
class Facts:
    """Values of the seeded data the requests need, read from the database once."""

    users: int
    user_with_orders: int
    user_without_orders: int
    lookup_name: str
    order_user: int  # the only user the order tests write to


@pytest.fixture(scope="session")
def cluster() -> Iterator[PostgresCluster]:
    # Under /tmp (world-traversable) so the unprivileged cluster owner can reach it.
    home = Path(tempfile.mkdtemp(prefix="loadlab-contract-"))
    pg = PostgresCluster(home=home, settings=dict(TEST_SETTINGS))
    try:
        pg.start()
        yield pg
    finally:
        pg.purge()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def dsn(cluster: PostgresCluster) -> str:
    return cluster.dsn()


@pytest.fixture(scope="session")
def seeded(dsn: str) -> SeedResult:
    return seed(dsn, SCALE)


@pytest.fixture()
def db(dsn: str, seeded: SeedResult) -> Iterator[psycopg.Connection]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def facts(dsn: str, seeded: SeedResult) -> Facts:
    users = users_for_scale(SCALE)
    with psycopg.connect(dsn) as conn:
        (user_with_orders,) = conn.execute(
            "SELECT user_id FROM orders GROUP BY user_id HAVING count(*) >= 3 "
            "ORDER BY user_id LIMIT 1"
        ).fetchone()
        (user_without_orders,) = conn.execute(
            "SELECT min(id) FROM users WHERE NOT EXISTS "
            "(SELECT 1 FROM orders WHERE orders.user_id = users.id)"
        ).fetchone()
        (lookup_name,) = conn.execute("SELECT name FROM users WHERE id = 1").fetchone()
    assert users not in (user_with_orders, user_without_orders)
    return Facts(users, user_with_orders, user_without_orders, lookup_name, order_user=users)


@pytest.fixture(scope="session")
def servers(cluster: PostgresCluster, seeded: SeedResult) -> Iterator[dict[str, str]]:
    """Variant name -> base URL. Each server runs in its own process group and is killed
    with it at teardown, whatever the tests did."""
    log_dir = Path(tempfile.mkdtemp(prefix="loadlab-contract-logs-"))
    with contextlib.ExitStack() as stack:
        urls: dict[str, str] = {}
        for variant in load_registry().values():
            server = AppServer(
                variant=variant,
                database_url=cluster.dsn(),
                log_dir=log_dir,
                workers=WORKERS,
                pool_size=POOL_SIZE,
            )
            stack.callback(server.stop)
            server.start()
            urls[variant.name] = server.url
        yield urls
    shutil.rmtree(log_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def clients(servers: dict[str, str]) -> Iterator[dict[str, httpx.Client]]:
    with contextlib.ExitStack() as stack:
        yield {
            name: stack.enter_context(httpx.Client(base_url=url, timeout=30.0))
            for name, url in servers.items()
        }
