"""The Flask application: the loadlab HTTP contract on psycopg 3.

The same app serves the flask-sync (gthread), flask-gevent and flask-granian (granian's WSGI
threads) variants; under gevent the blocking calls here (psycopg, time.sleep) are
cooperative because gunicorn's gevent worker monkey-patches before it imports this module.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg
from flask import Blueprint, Flask, Response, request
from psycopg_pool import PoolTimeout
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from services.common import serializers
from services.common.config import json_provider
from services.common.errors import ApiError, error_body, status_message
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
from services.flask_app.db import get_pool
from services.flask_app.json_provider import OrjsonProvider
from services.sql import statements as q

HEALTH_TIMEOUT_S = 5.0

log = logging.getLogger(__name__)
bp = Blueprint("loadlab", __name__)

ResponseValue = tuple[dict[str, Any], int] | tuple[dict[str, Any], int, dict[str, str]]


def _arg(name: str) -> str | None:
    """A query parameter; when repeated, the last one, which is what Starlette (and so the
    FastAPI variant) picks, so both answer a repeated parameter the same way."""
    values = request.args.getlist(name)
    return values[-1] if values else None


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    try:
        with get_pool().connection(timeout=HEALTH_TIMEOUT_S) as conn:
            conn.execute(q.PING.psycopg)
    except (PoolTimeout, psycopg.Error):
        raise ApiError(503, "database unavailable") from None
    return {"status": "ok"}


@bp.get("/json")
def json_hello() -> dict[str, str]:
    return {"message": "Hello, World!"}


@bp.get("/plaintext")
def plaintext() -> Response:
    return Response("Hello, World!", mimetype="text/plain")


@bp.get("/io")
def io() -> dict[str, int]:
    ms = parse_sleep_ms(_arg("ms"))
    time.sleep(ms / 1000)
    return {"slept_ms": ms}


@bp.get("/pgsleep")
def pg_sleep() -> dict[str, int]:
    ms = parse_sleep_ms(_arg("ms"))
    with get_pool().connection() as conn:
        conn.execute(q.PG_SLEEP.psycopg, {"seconds": ms / 1000})
    return {"slept_ms": ms}


@bp.get("/db")
def single_query() -> dict[str, int]:
    with get_pool().connection() as conn:
        row = conn.execute(q.WORLD_BY_ID.psycopg, {"id": random_world_id()}).fetchone()
    return serializers.world(row)


@bp.get("/queries")
def multiple_queries() -> list[dict[str, int]]:
    count = parse_queries(_arg("queries"))
    with get_pool().connection() as conn:
        rows = [
            conn.execute(q.WORLD_BY_ID.psycopg, {"id": random_world_id()}).fetchone()
            for _ in range(count)
        ]
    return serializers.worlds(rows)


@bp.get("/updates")
def updates() -> list[dict[str, int]]:
    count = parse_queries(_arg("queries"))
    with get_pool().connection() as conn, conn.transaction():
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


@bp.get("/fortunes")
def fortunes() -> str:
    with get_pool().connection() as conn:
        rows = conn.execute(q.FORTUNES.psycopg).fetchall()
    return render_fortunes(rows)


@bp.get("/users/<user_id>")
def get_user(user_id: str) -> dict[str, Any]:
    uid = parse_user_id(user_id)
    with get_pool().connection() as conn:
        row = conn.execute(q.USER_BY_ID.psycopg, {"id": uid}).fetchone()
    if row is None:
        raise ApiError(404, "user not found")
    return serializers.user(row)


@bp.get("/users/<user_id>/orders")
def user_orders(user_id: str) -> list[dict[str, Any]]:
    uid = parse_user_id(user_id)
    limit = parse_limit(_arg("limit"))
    with get_pool().connection() as conn:
        rows = conn.execute(q.USER_RECENT_ORDERS.psycopg, {"user_id": uid, "limit": limit})
        orders = [serializers.order_summary(row) for row in rows]
        # Only an empty answer needs the second query: no orders, or no such user?
        if not orders and conn.execute(q.USER_EXISTS.psycopg, {"id": uid}).fetchone() is None:
            raise ApiError(404, "user not found")
    return orders


@bp.get("/products/top")
def top_products() -> list[dict[str, Any]]:
    limit = parse_limit(_arg("limit"))
    with get_pool().connection() as conn:
        rows = conn.execute(q.TOP_PRODUCTS.psycopg, {"limit": limit}).fetchall()
    return [serializers.top_product(row) for row in rows]


@bp.post("/orders")
def place_order() -> tuple[dict[str, Any], int]:
    order = parse_order(request.get_data())
    with get_pool().connection() as conn, conn.transaction():
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
    return serializers.placed_order(placed, lines), 201


@bp.get("/lookup")
def lookup() -> dict[str, Any]:
    name = parse_lookup_name(_arg("name"))
    with get_pool().connection() as conn:
        row = conn.execute(q.USER_BY_NAME.psycopg, {"name": name}).fetchone()
    return serializers.lookup(row)


def _api_error(exc: ApiError) -> ResponseValue:
    return error_body(exc.message), exc.status


def _http_error(exc: HTTPException) -> ResponseValue:
    """Unknown routes, wrong methods and werkzeug's own 4xx answer in JSON too."""
    status = exc.code or 500
    body = error_body(status_message(status))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        return body, status, {"Allow": ", ".join(sorted(exc.valid_methods))}
    return body, status


def _database_unavailable(exc: Exception) -> ResponseValue:
    # a restarted or unreachable database is not the client's fault, nor a bug: 503, as
    # /healthz says, so a load test counts it as an outage rather than a crash
    log.warning("database unavailable on %s %s: %s", request.method, request.path, exc)
    return error_body("database unavailable"), 503


def _unexpected_error(exc: Exception) -> ResponseValue:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return error_body("internal server error"), 500


def create_app() -> Flask:
    app = Flask(__name__)
    # Flask answers OPTIONS on every route by itself and Starlette does not; without this the
    # same request got 200 here and 405 on FastAPI (found by tests/contract/test_fuzz.py).
    # It must be set before the routes are registered.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    # LOADLAB_JSON: Flask's stock provider (sorted keys, ASCII escapes, a trailing newline),
    # or orjson, which sends the bytes FastAPI does (services/flask_app/json_provider.py).
    if json_provider() == "orjson":
        app.json = OrjsonProvider(app)
    app.register_blueprint(bp)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(psycopg.OperationalError, _database_unavailable)
    app.register_error_handler(PoolTimeout, _database_unavailable)
    app.register_error_handler(Exception, _unexpected_error)
    return app
