"""Create the schema and load deterministic data: COPY first, keys and indexes after, ANALYZE
at the end, then a checksum of what the database now holds.

The orchestrator calls ``seed``, ``data_checksum``, ``schema_fingerprint`` and
``users_for_scale``; ``python -m services.seed --dsn URL --scale S`` does the same by hand.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from psycopg.copy import QueuedLibpqWriter
from pydantic import BaseModel, ConfigDict

from labcontract.dataset import (  # the sizes the Locust side draws ids from, too
    DEFAULT_SEED,
    orders_for_scale,
    products_for_scale,
    users_for_scale,
)
from services import datagen

Progress = Callable[[str, int, int], None]


SQL_DIR = Path(__file__).parent / "sql"
SCHEMA_FILES = ("schema.sql", "indexes.sql", "constraints.sql")
TABLES = ("users", "products", "orders", "order_items", "world", "fortune")
COLUMNS = {
    "users": "id, name, email, created_at, updated_at",
    "products": "id, name, price_cents, stock",
    "orders": "id, user_id, created_at, status, total_cents",
    "order_items": "order_id, product_id, quantity, price_cents",
    "world": "id, randomnumber",
    "fortune": "id, message",
}

# Two builders: one per core of the small machines the lab targets; PostgreSQL adds its own
# parallel workers to each index build on bigger ones.
INDEX_BUILDERS = 2
MAINTENANCE_WORK_MEM = "256MB"  # a floor for the index builds


class SeedResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    scale: float
    seed: int
    rows: dict[str, int]
    checksum: str
    seconds: float
    schema_fingerprint: str


def schema_fingerprint() -> str:
    """Changes whenever the schema or the generated rows would: a seeded cluster with the
    same fingerprint, scale and seed holds the same data and can be reused."""
    digest = hashlib.sha256()
    for name in SCHEMA_FILES:
        digest.update(name.encode() + b"\0" + (SQL_DIR / name).read_bytes() + b"\0")
    digest.update(f"generator={datagen.GENERATOR_VERSION}".encode())
    return digest.hexdigest()


def _statements(name: str) -> list[str]:
    """The statements of a post-load file: split on semicolons, comment lines dropped."""
    text = (SQL_DIR / name).read_text()
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    return [stmt.strip() for stmt in code.split(";") if stmt.strip()]


def _copy_chunks(
    conn: psycopg.Connection,
    table: str,
    chunks: Iterator[tuple[int, str]],
    total: int,
    progress: Progress,
) -> int:
    """COPY one table inside the transaction that truncates it: that allows FREEZE (rows
    are born frozen and all-visible, so the first benchmark reads do not rewrite every page
    to set hint bits) and, with wal_level=minimal, skips WAL."""
    done = 0
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(f"TRUNCATE {table}")
        statement = f"COPY {table} ({COLUMNS[table]}) FROM STDIN WITH (FREEZE)"
        # The queued writer sends from a thread, so generating the next chunk overlaps
        # with the server parsing this one.
        with cur.copy(statement, writer=QueuedLibpqWriter(cur)) as copy:
            for rows, chunk in chunks:
                copy.write(chunk)
                done += rows
                progress(table, done, total)
    return done


def _load_orders(
    orders_conn: psycopg.Connection,
    items_conn: psycopg.Connection,
    chunks: Iterator[tuple[int, str, int, str]],
    total: int,
    progress: Progress,
) -> tuple[int, int]:
    """orders and order_items stream side by side on two connections, as they are
    generated together."""
    n_orders = n_items = 0
    with (
        orders_conn.transaction(),
        items_conn.transaction(),
        orders_conn.cursor() as orders_cur,
        items_conn.cursor() as items_cur,
    ):
        orders_cur.execute("TRUNCATE orders")
        items_cur.execute("TRUNCATE order_items")
        with (
            orders_cur.copy(
                f"COPY orders ({COLUMNS['orders']}) FROM STDIN WITH (FREEZE)",
                writer=QueuedLibpqWriter(orders_cur),
            ) as orders_copy,
            items_cur.copy(
                f"COPY order_items ({COLUMNS['order_items']}) FROM STDIN WITH (FREEZE)",
                writer=QueuedLibpqWriter(items_cur),
            ) as items_copy,
        ):
            for rows, orders_chunk, items, items_chunk in chunks:
                orders_copy.write(orders_chunk)
                items_copy.write(items_chunk)
                n_orders += rows
                n_items += items
                progress("orders", n_orders, total)
    return n_orders, n_items


def _load_fortunes(conn: psycopg.Connection) -> int:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("TRUNCATE fortune")
        with cur.copy(f"COPY fortune ({COLUMNS['fortune']}) FROM STDIN WITH (FREEZE)") as copy:
            for row in datagen.FORTUNES:
                copy.write_row(row)  # the fortunes hold quotes and tags: let psycopg escape
    return len(datagen.FORTUNES)


def _build_indexes(dsn: str, progress: Progress) -> None:
    statements = _statements("indexes.sql")
    done = 0

    def build(statement: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            # sorts in memory rather than in temp files, unless the server already allows more
            conn.execute(
                "SELECT set_config('maintenance_work_mem', %(floor)s, false) "
                "WHERE pg_size_bytes(current_setting('maintenance_work_mem')) "
                "< pg_size_bytes(%(floor)s)",
                {"floor": MAINTENANCE_WORK_MEM},
            )
            conn.execute(statement)

    with ThreadPoolExecutor(INDEX_BUILDERS) as pool:
        progress("indexes", 0, len(statements))
        for future in [pool.submit(build, statement) for statement in statements]:
            future.result()
            done += 1
            progress("indexes", done, len(statements))


def _no_progress(table: str, done: int, total: int) -> None:
    pass


def seed(
    dsn: str,
    scale: float,
    seed: int = DEFAULT_SEED,
    progress: Progress | None = None,
) -> SeedResult:
    """Drop and recreate every table, load the rows for ``scale`` and ``seed``, build keys
    and indexes, ANALYZE, and return the row counts and the data checksum."""
    report = progress or _no_progress
    started = time.perf_counter()
    n_users = users_for_scale(scale)
    n_products = products_for_scale(scale)
    n_orders = orders_for_scale(scale)
    rows: dict[str, int] = {}

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute((SQL_DIR / "schema.sql").read_text())

    with psycopg.connect(dsn) as main, psycopg.connect(dsn) as second:
        prices = datagen.product_prices(n_products, seed)
        rows["products"] = _copy_chunks(
            main, "products", datagen.products(n_products, seed, prices), n_products, report
        )
        rows["world"] = _copy_chunks(main, "world", datagen.world(seed), datagen.WORLD_ROWS, report)
        rows["fortune"] = _load_fortunes(main)
        rows["users"] = _copy_chunks(main, "users", datagen.users(n_users, seed), n_users, report)
        rows["orders"], rows["order_items"] = _load_orders(
            main,
            second,
            datagen.orders_and_items(n_orders, n_users, prices, seed),
            n_orders,
            report,
        )

    _build_indexes(dsn, report)
    with psycopg.connect(dsn, autocommit=True) as conn:
        report("constraints", 0, 1)
        for statement in _statements("constraints.sql"):
            conn.execute(statement)
        report("constraints", 1, 1)
        report("analyze", 0, 1)
        conn.execute(f"ANALYZE {', '.join(TABLES)}")
        report("analyze", 1, 1)

    report("checksum", 0, 1)
    checksum = data_checksum(dsn)
    report("checksum", 1, 1)
    return SeedResult(
        scale=scale,
        seed=seed,
        rows=rows,
        checksum=checksum,
        seconds=round(time.perf_counter() - started, 3),
        schema_fingerprint=schema_fingerprint(),
    )


def _table_digest(dsn: str, table: str) -> str:
    # row::text depends on the session's TimeZone and DateStyle, so both are pinned. md5
    # rather than hashtext: hashtext is an internal function with no stability promise
    # across PostgreSQL versions, and the same data must give the same checksum on any server.
    query = (
        "SELECT count(*), coalesce(sum(('x' || left(md5(t::text), 16))::bit(64)::bigint), 0) "
        f"FROM {table} AS t"
    )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET DateStyle = 'ISO, YMD'")
        count, total = conn.execute(query).fetchone() or (0, 0)
    return f"{table}:{count}:{total}\n"


def data_checksum(dsn: str) -> str:
    """sha256 over each table's row count and the sum of its row hashes: independent of
    physical row order, so equal contents give equal checksums."""
    with ThreadPoolExecutor(INDEX_BUILDERS) as pool:
        digests = list(pool.map(lambda table: _table_digest(dsn, table), TABLES))
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True, help="postgresql://USER:PASSWORD@HOST:PORT/DB")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)

    def show(table: str, done: int, total: int) -> None:
        if done >= total:
            print(f"{table:<12} {done:>10,} done", flush=True)

    result = seed(args.dsn, args.scale, args.seed, progress=show)
    print(result.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
