"""The FastAPI application with ``async def`` endpoints on psycopg 3's AsyncConnectionPool
(fastapi-psycopg): the asyncio model of fastapi-async with the Flask variants' driver, so a
comparison can tell the framework from the driver.

A lifespan-managed pool per worker process, handed to endpoints through a dependency, as
in the asyncpg app; the queries and their parameters are the Flask app's
(services/sql/statements.py), awaited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from services.common import serializers
from services.common.config import database_url, pool_size
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
from services.fastapi_app.common import create_app, state_pool
from services.sql import statements as q

HEALTH_TIMEOUT_S = 5.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs in each worker process after it starts, so every worker owns its pool.
    size = pool_size()
    async with AsyncConnectionPool(
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

Pool = Annotated[AsyncConnectionPool, Depends(state_pool)]


@app.get("/healthz")
async def healthz(pool: Pool) -> dict[str, str]:
    try:
        async with pool.connection(timeout=HEALTH_TIMEOUT_S) as conn:
            await conn.execute(q.PING.psycopg)
    except (PoolTimeout, psycopg.Error):
        raise ApiError(503, "database unavailable") from None
    return {"status": "ok"}


@app.get("/json")
async def json_hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/io")
async def io(ms: str | None = None) -> dict[str, int]:
    slept = parse_sleep_ms(ms)
    await asyncio.sleep(slept / 1000)
    return {"slept_ms": slept}


@app.get("/pgsleep")
async def pg_sleep(pool: Pool, ms: str | None = None) -> dict[str, int]:
    slept = parse_sleep_ms(ms)
    async with pool.connection() as conn:
        await conn.execute(q.PG_SLEEP.psycopg, {"seconds": slept / 1000})
    return {"slept_ms": slept}


async def _one(conn: psycopg.AsyncConnection[Any], statement: q.Statement, params: Any) -> Any:
    """The first row of a statement, or None."""
    cursor = await conn.execute(statement.psycopg, params)
    return await cursor.fetchone()


@app.get("/db")
async def single_query(pool: Pool) -> dict[str, int]:
    async with pool.connection() as conn:
        row = await _one(conn, q.WORLD_BY_ID, {"id": random_world_id()})
    return serializers.world(row)


@app.get("/queries")
async def multiple_queries(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    async with pool.connection() as conn:
        rows = [await _one(conn, q.WORLD_BY_ID, {"id": random_world_id()}) for _ in range(count)]
    return serializers.worlds(rows)


@app.get("/updates")
async def updates(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    async with pool.connection() as conn, conn.transaction():
        rows = [
            await _one(conn, q.WORLD_BY_ID, {"id": world_id})
            for world_id in random_world_ids(count)
        ]
        changed = [{"id": row["id"], "randomnumber": random_number()} for row in rows]
        # Writing in id order means concurrent /updates lock rows in the same order and
        # cannot deadlock.
        async with conn.cursor() as cur:
            await cur.executemany(q.WORLD_UPDATE.psycopg, sorted(changed, key=lambda r: r["id"]))
    return serializers.worlds(changed)


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(pool: Pool) -> str:
    async with pool.connection() as conn:
        rows = await (await conn.execute(q.FORTUNES.psycopg)).fetchall()
    return render_fortunes(rows)


@app.get("/users/{user_id}")
async def get_user(user_id: str, pool: Pool) -> dict[str, Any]:
    uid = parse_user_id(user_id)
    async with pool.connection() as conn:
        row = await _one(conn, q.USER_BY_ID, {"id": uid})
    if row is None:
        raise ApiError(404, "user not found")
    return serializers.user(row)


@app.get("/users/{user_id}/orders")
async def user_orders(user_id: str, pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    uid = parse_user_id(user_id)
    count = parse_limit(limit)
    async with pool.connection() as conn:
        cursor = await conn.execute(q.USER_RECENT_ORDERS.psycopg, {"user_id": uid, "limit": count})
        orders = [serializers.order_summary(row) for row in await cursor.fetchall()]
        # Only an empty answer needs the second query: no orders, or no such user?
        if not orders and await _one(conn, q.USER_EXISTS, {"id": uid}) is None:
            raise ApiError(404, "user not found")
    return orders


@app.get("/products/top")
async def top_products(pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    count = parse_limit(limit)
    async with pool.connection() as conn:
        rows = await (await conn.execute(q.TOP_PRODUCTS.psycopg, {"limit": count})).fetchall()
    return [serializers.top_product(row) for row in rows]


@app.post("/orders", status_code=201)
async def place_order(request: Request, pool: Pool) -> dict[str, Any]:
    # The body is parsed by the shared validator rather than a pydantic model so that a
    # malformed order is the same 400 as on Flask, not FastAPI's 422.
    order = parse_order(await request.body())
    async with pool.connection() as conn, conn.transaction():
        if await _one(conn, q.USER_EXISTS, {"id": order.user_id}) is None:
            raise ApiError(404, "user not found")
        lines: list[tuple[int, int, int]] = []
        # Product rows are locked in id order so concurrent orders cannot deadlock.
        for item in sorted(order.items, key=lambda i: i.product_id):
            params = {"product_id": item.product_id, "quantity": item.quantity}
            reserved = await _one(conn, q.PRODUCT_RESERVE, params)
            if reserved is None:
                if await _one(conn, q.PRODUCT_EXISTS, params) is None:
                    raise ApiError(404, f"product {item.product_id} not found")
                raise ApiError(409, f"insufficient stock for product {item.product_id}")
            lines.append((item.product_id, item.quantity, reserved["price_cents"]))
        total = sum(quantity * price for _, quantity, price in lines)
        placed = await _one(conn, q.ORDER_INSERT, {"user_id": order.user_id, "total_cents": total})
        async with conn.cursor() as cur:
            await cur.executemany(
                q.ORDER_ITEM_INSERT.psycopg,
                [
                    {"order_id": placed["id"], "product_id": p, "quantity": n, "price_cents": c}
                    for p, n, c in lines
                ],
            )
    return serializers.placed_order(placed, lines)


@app.get("/lookup")
async def lookup(pool: Pool, name: str | None = None) -> dict[str, Any]:
    checked = parse_lookup_name(name)
    async with pool.connection() as conn:
        row = await _one(conn, q.USER_BY_NAME, {"name": checked})
    return serializers.lookup(row)
