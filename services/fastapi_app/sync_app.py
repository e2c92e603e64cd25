"""The FastAPI application with plain ``def`` endpoints on psycopg 3 (fastapi-sync).

Written the way FastAPI's docs tell users with a blocking driver to write it: ``def``
endpoints, which Starlette runs on anyio's thread pool, and a psycopg_pool ConnectionPool
opened by the lifespan in each worker process. The thread pool's size is anyio's default
limiter (40 tokens) unless LOADLAB_THREADS says otherwise; a request holds a token for the
whole endpoint, database waits included. Routes, answers and error handling are those of
the other variants; the queries are the Flask app's (services/sql/statements.py).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from anyio import to_thread
from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse, PlainTextResponse
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from services.common import serializers
from services.common.config import database_url, pool_size, threads
from services.common.errors import ApiError
from services.common.techempower import (
    random_number,
    random_world_id,
    random_world_ids,
    render_fortunes,
)
from services.common.validation import (
    parse_limit,
    parse_lookup_name,
    parse_order,
    parse_queries,
    parse_sleep_ms,
    parse_user_id,
)
from services.fastapi_app.common import create_app, raw_body, state_pool
from services.sql import statements as q

HEALTH_TIMEOUT_S = 5.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs in each uvicorn worker process after it starts: its own thread pool size and its
    # own database pool (a pool opened before the fork would share sockets).
    to_thread.current_default_thread_limiter().total_tokens = threads()
    size = pool_size()
    with ConnectionPool(
        database_url(),
        min_size=size,
        max_size=size,
        # autocommit: a read is one round trip, as with asyncpg; writes open an explicit
        # transaction. The same settings as the Flask app's pool.
        kwargs={"autocommit": True, "row_factory": dict_row},
        name="loadlab",
        open=False,
    ) as pool:  # opens without waiting: the connections are made in the background
        app.state.pool = pool
        yield


app = create_app(lifespan, database_unavailable=(psycopg.OperationalError, PoolTimeout))

Pool = Annotated[ConnectionPool, Depends(state_pool)]
Body = Annotated[bytes, Depends(raw_body)]


@app.get("/healthz")
def healthz(pool: Pool) -> dict[str, str]:
    try:
        with pool.connection(timeout=HEALTH_TIMEOUT_S) as conn:
            conn.execute(q.PING.psycopg)
    except (PoolTimeout, psycopg.Error):
        raise ApiError(503, "database unavailable") from None
    return {"status": "ok"}


@app.get("/json")
def json_hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
def plaintext() -> str:
    return "Hello, World!"


@app.get("/io")
def io(ms: str | None = None) -> dict[str, int]:
    slept = parse_sleep_ms(ms)
    time.sleep(slept / 1000)  # holds its thread, as a blocking call in a def endpoint does
    return {"slept_ms": slept}


@app.get("/pgsleep")
def pg_sleep(pool: Pool, ms: str | None = None) -> dict[str, int]:
    slept = parse_sleep_ms(ms)
    with pool.connection() as conn:
        conn.execute(q.PG_SLEEP.psycopg, {"seconds": slept / 1000})
    return {"slept_ms": slept}


@app.get("/db")
def single_query(pool: Pool) -> dict[str, int]:
    with pool.connection() as conn:
        row = conn.execute(q.WORLD_BY_ID.psycopg, {"id": random_world_id()}).fetchone()
    return serializers.world(row)


@app.get("/queries")
def multiple_queries(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    with pool.connection() as conn:
        rows = [
            conn.execute(q.WORLD_BY_ID.psycopg, {"id": random_world_id()}).fetchone()
            for _ in range(count)
        ]
    return serializers.worlds(rows)


@app.get("/updates")
def updates(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    with pool.connection() as conn, conn.transaction():
        rows = [
            conn.execute(q.WORLD_BY_ID.psycopg, {"id": world_id}).fetchone()
            for world_id in random_world_ids(count)
        ]
        changed = [{"id": row["id"], "randomnumber": random_number()} for row in rows]
        # Writing in id order means concurrent /updates lock rows in the same order and
        # cannot deadlock.
        with conn.cursor() as cur:
            cur.executemany(q.WORLD_UPDATE.psycopg, sorted(changed, key=lambda r: r["id"]))
    return serializers.worlds(changed)


@app.get("/fortunes", response_class=HTMLResponse)
def fortunes(pool: Pool) -> str:
    with pool.connection() as conn:
        rows = conn.execute(q.FORTUNES.psycopg).fetchall()
    return render_fortunes(rows)


@app.get("/users/{user_id}")
def get_user(user_id: str, pool: Pool) -> dict[str, Any]:
    uid = parse_user_id(user_id)
    with pool.connection() as conn:
        row = conn.execute(q.USER_BY_ID.psycopg, {"id": uid}).fetchone()
    if row is None:
        raise ApiError(404, "user not found")
    return serializers.user(row)


@app.get("/users/{user_id}/orders")
def user_orders(user_id: str, pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    uid = parse_user_id(user_id)
    count = parse_limit(limit)
    with pool.connection() as conn:
        rows = conn.execute(q.USER_RECENT_ORDERS.psycopg, {"user_id": uid, "limit": count})
        orders = [serializers.order_summary(row) for row in rows]
        # Only an empty answer needs the second query: no orders, or no such user?
        if not orders and conn.execute(q.USER_EXISTS.psycopg, {"id": uid}).fetchone() is None:
            raise ApiError(404, "user not found")
    return orders


@app.get("/products/top")
def top_products(pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    count = parse_limit(limit)
    with pool.connection() as conn:
        rows = conn.execute(q.TOP_PRODUCTS.psycopg, {"limit": count}).fetchall()
    return [serializers.top_product(row) for row in rows]


@app.post("/orders", status_code=201)
def place_order(body: Body, pool: Pool) -> dict[str, Any]:
    # The body is read by an async dependency (a def endpoint cannot await it) and parsed by
    # the shared validator, so a malformed order is the same 400 as everywhere.
    order = parse_order(body)
    with pool.connection() as conn, conn.transaction():
        if conn.execute(q.USER_EXISTS.psycopg, {"id": order.user_id}).fetchone() is None:
            raise ApiError(404, "user not found")
        lines: list[tuple[int, int, int]] = []
        # Product rows are locked in id order so concurrent orders cannot deadlock.
        for item in sorted(order.items, key=lambda i: i.product_id):
            params = {"product_id": item.product_id, "quantity": item.quantity}
            reserved = conn.execute(q.PRODUCT_RESERVE.psycopg, params).fetchone()
            if reserved is None:
                if conn.execute(q.PRODUCT_EXISTS.psycopg, params).fetchone() is None:
                    raise ApiError(404, f"product {item.product_id} not found")
                raise ApiError(409, f"insufficient stock for product {item.product_id}")
            lines.append((item.product_id, item.quantity, reserved["price_cents"]))
        total = sum(quantity * price for _, quantity, price in lines)
        placed = conn.execute(
            q.ORDER_INSERT.psycopg, {"user_id": order.user_id, "total_cents": total}
        ).fetchone()
        with conn.cursor() as cur:
            cur.executemany(
                q.ORDER_ITEM_INSERT.psycopg,
                [
                    {"order_id": placed["id"], "product_id": p, "quantity": n, "price_cents": c}
                    for p, n, c in lines
                ],
            )
    return serializers.placed_order(placed, lines)


@app.get("/lookup")
def lookup(pool: Pool, name: str | None = None) -> dict[str, Any]:
    checked = parse_lookup_name(name)
    with pool.connection() as conn:
        row = conn.execute(q.USER_BY_NAME.psycopg, {"name": checked}).fetchone()
    return serializers.lookup(row)
