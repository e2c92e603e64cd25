"""The FastAPI application: the loadlab HTTP contract with ``async def`` endpoints on asyncpg
(fastapi-async on uvicorn, fastapi-granian on granian's ASGI interface).

Written the way FastAPI users write it: a lifespan-managed pool handed to endpoints through
a dependency, plain dicts returned and serialized by FastAPI's default JSON response. The
app's construction and error handling are shared with the other FastAPI apps (common.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from services.common import serializers
from services.common.config import asyncpg_reset, database_url, pool_size
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

# A restarted or unreachable database (answered 503, as on Flask).
DATABASE_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    ConnectionError,
)


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset with LOADLAB_ASYNCPG_RESET=0: nothing beyond what asyncpg always does.

    asyncpg's default reset runs its reset query (``SELECT pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL``) on every release: one more round trip per request. With a
    custom reset the pool still calls ``Connection._reset()`` first, which drops listeners
    added with ``add_listener`` and rolls back a transaction left open (a request cancelled
    inside ``conn.transaction()``), so no transaction outlives its request either way.
    Skipping the query is safe for this app because nothing it does outlives a request in
    the session: it never LISTENs, never SETs a session variable, takes no advisory locks and
    holds no cursor across requests (fetch/fetchrow portals close with their query; every
    write is an ``async with conn.transaction()``). A connection goes back to the pool in the
    state it was handed out in."""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Runs in each worker process after it starts, so every worker owns its pool.
    size = pool_size()
    reset = None if asyncpg_reset() else keep_session  # None: asyncpg's default reset
    async with asyncpg.create_pool(
        database_url(), min_size=size, max_size=size, reset=reset
    ) as pool:
        app.state.pool = pool
        yield


app = create_app(lifespan, database_unavailable=DATABASE_UNAVAILABLE)

Pool = Annotated[asyncpg.Pool, Depends(state_pool)]


@app.get("/healthz")
async def healthz(pool: Pool) -> dict[str, str]:
    try:
        async with pool.acquire(timeout=HEALTH_TIMEOUT_S) as conn:
            await conn.fetchval(q.PING.asyncpg)
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError):
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
    async with pool.acquire() as conn:
        await conn.execute(q.PG_SLEEP.asyncpg, slept / 1000)
    return {"slept_ms": slept}


@app.get("/db")
async def single_query(pool: Pool) -> dict[str, int]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(q.WORLD_BY_ID.asyncpg, random_world_id())
    return serializers.world(row)


@app.get("/queries")
async def multiple_queries(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(q.WORLD_BY_ID.asyncpg, random_world_id()) for _ in range(count)]
    return serializers.worlds(rows)


@app.get("/updates")
async def updates(pool: Pool, queries: str | None = None) -> list[dict[str, int]]:
    count = parse_queries(queries)
    async with pool.acquire() as conn, conn.transaction():
        rows = [
            await conn.fetchrow(q.WORLD_BY_ID.asyncpg, world_id)
            for world_id in random_world_ids(count)
        ]
        changed = [{"id": row["id"], "randomnumber": random_number()} for row in rows]
        # Writing in id order means concurrent /updates lock rows in the same order and
        # cannot deadlock.
        await conn.executemany(
            q.WORLD_UPDATE.asyncpg,
            [q.WORLD_UPDATE.args(row) for row in sorted(changed, key=lambda r: r["id"])],
        )
    return serializers.worlds(changed)


@app.get("/fortunes", response_class=HTMLResponse)
async def fortunes(pool: Pool) -> str:
    async with pool.acquire() as conn:
        rows = await conn.fetch(q.FORTUNES.asyncpg)
    return render_fortunes(rows)


@app.get("/users/{user_id}")
async def get_user(user_id: str, pool: Pool) -> dict[str, Any]:
    uid = parse_user_id(user_id)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(q.USER_BY_ID.asyncpg, uid)
    if row is None:
        raise ApiError(404, "user not found")
    return serializers.user(row)


@app.get("/users/{user_id}/orders")
async def user_orders(user_id: str, pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    uid = parse_user_id(user_id)
    count = parse_limit(limit)
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            q.USER_RECENT_ORDERS.asyncpg, *q.USER_RECENT_ORDERS.args(user_id=uid, limit=count)
        )
        # Only an empty answer needs the second query: no orders, or no such user?
        if not rows and await conn.fetchrow(q.USER_EXISTS.asyncpg, uid) is None:
            raise ApiError(404, "user not found")
    return [serializers.order_summary(row) for row in rows]


@app.get("/products/top")
async def top_products(pool: Pool, limit: str | None = None) -> list[dict[str, Any]]:
    count = parse_limit(limit)
    async with pool.acquire() as conn:
        rows = await conn.fetch(q.TOP_PRODUCTS.asyncpg, count)
    return [serializers.top_product(row) for row in rows]


@app.post("/orders", status_code=201)
async def place_order(request: Request, pool: Pool) -> dict[str, Any]:
    # The body is parsed by the shared validator rather than a pydantic model so that a
    # malformed order is the same 400 as on Flask, not FastAPI's 422.
    order = parse_order(await request.body())
    async with pool.acquire() as conn, conn.transaction():
        if await conn.fetchrow(q.USER_EXISTS.asyncpg, order.user_id) is None:
            raise ApiError(404, "user not found")
        lines: list[tuple[int, int, int]] = []
        # Product rows are locked in id order so concurrent orders cannot deadlock.
        for item in sorted(order.items, key=lambda i: i.product_id):
            price = await conn.fetchval(
                q.PRODUCT_RESERVE.asyncpg,
                *q.PRODUCT_RESERVE.args(product_id=item.product_id, quantity=item.quantity),
            )
            if price is None:
                if await conn.fetchrow(q.PRODUCT_EXISTS.asyncpg, item.product_id) is None:
                    raise ApiError(404, f"product {item.product_id} not found")
                raise ApiError(409, f"insufficient stock for product {item.product_id}")
            lines.append((item.product_id, item.quantity, price))
        total = sum(quantity * price for _, quantity, price in lines)
        placed = await conn.fetchrow(
            q.ORDER_INSERT.asyncpg, *q.ORDER_INSERT.args(user_id=order.user_id, total_cents=total)
        )
        await conn.executemany(
            q.ORDER_ITEM_INSERT.asyncpg,
            [
                q.ORDER_ITEM_INSERT.args(
                    order_id=placed["id"], product_id=p, quantity=n, price_cents=c
                )
                for p, n, c in lines
            ],
        )
    return serializers.placed_order(placed, lines)


@app.get("/lookup")
async def lookup(pool: Pool, name: str | None = None) -> dict[str, Any]:
    checked = parse_lookup_name(name)
    async with pool.acquire() as conn:
        row = await conn.fetchrow(q.USER_BY_NAME.asyncpg, checked)
    return serializers.lookup(row)
