"""The seed is deterministic: the same scale and seed give the same rows and checksum."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from loadlab.deployments.postgres import PostgresCluster
from services import datagen
from services.seed import (
    data_checksum,
    products_for_scale,
    schema_fingerprint,
    seed,
    users_for_scale,
)


def test_sizes_follow_the_scale() -> None:
    assert users_for_scale(1.0) == 1_000_000
    assert users_for_scale(0.002) == 2_000
    assert users_for_scale(1e-9) == 1
    assert products_for_scale(1.0) == 10_000
    assert products_for_scale(0.001) == 100
    with pytest.raises(ValueError):
        users_for_scale(0)


def test_fingerprint_is_stable() -> None:
    assert schema_fingerprint() == schema_fingerprint()
    assert len(schema_fingerprint()) == 64


def test_generated_rows_depend_only_on_the_seed() -> None:
    def rows(seed: int) -> list[str]:
        prices = datagen.product_prices(100, seed)
        chunks = [chunk for _, chunk in datagen.users(50, seed)]
        chunks += [chunk for _, chunk in datagen.products(100, seed, prices)]
        for _, orders, _, items in datagen.orders_and_items(50, 50, prices, seed):
            chunks += [orders, items]
        return chunks

    assert rows(1) == rows(1)
    assert rows(1) != rows(2)


@pytest.fixture()
def scratch_dsn(cluster: PostgresCluster) -> Iterator[str]:
    """A second database in the test cluster, so reseeding never disturbs the servers."""
    name = "loadlab_determinism"
    with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name} OWNER loadlab")
    try:
        yield cluster.dsn().rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(cluster.admin_dsn(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.mark.slow
def test_same_scale_and_seed_give_the_same_checksum(scratch_dsn: str) -> None:
    first = seed(scratch_dsn, 0.0005, seed=1)
    again = seed(scratch_dsn, 0.0005, seed=1)  # also proves seeding twice is idempotent
    assert first.checksum == again.checksum == data_checksum(scratch_dsn)
    assert first.rows == again.rows
    assert first.rows["users"] == 500 and first.rows["world"] == 10_000
    assert first.rows["fortune"] == 12 and first.rows["products"] == 100
    assert first.schema_fingerprint == schema_fingerprint()

    other = seed(scratch_dsn, 0.0005, seed=2)
    assert other.checksum != first.checksum

    with psycopg.connect(scratch_dsn, autocommit=True) as conn:
        conn.execute("UPDATE world SET randomnumber = randomnumber + 1 WHERE id = 1")
    assert data_checksum(scratch_dsn) != other.checksum
