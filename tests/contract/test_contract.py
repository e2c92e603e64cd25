"""Every variant against one real PostgreSQL: the same requests get the same status codes and
bodies, random endpoints answer with rows that exist, bad input gets a JSON 4xx, and writes
are transactional and persist."""

from __future__ import annotations

import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest

from loadlab.core.registry import variant_names
from tests.contract.conftest import Facts

pytestmark = pytest.mark.slow

SOLD_OUT_PRODUCT = 50  # seed rule: product ids that are multiples of 50 start with stock 0
UNKNOWN_PRODUCT = 999_999


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # may hold {placeholders} filled from Facts
    status: int
    body: bytes | None = None

    @property
    def id(self) -> str:
        path = self.path if len(self.path) <= 60 else f"{self.path[:40]}...({len(self.path)})"
        body = f" {self.body[:40]!r}" if self.body is not None else ""
        return f"{self.method} {path}{body} -> {self.status}"


def _order(user: int | str, *items: tuple[Any, Any]) -> bytes:
    return json.dumps(
        {"user_id": user, "items": [{"product_id": p, "quantity": q} for p, q in items]}
    ).encode()


GOOD = [
    Case("GET", "/healthz", 200),
    Case("GET", "/json", 200),
    Case("GET", "/plaintext", 200),
    Case("GET", "/fortunes", 200),
    Case("GET", "/users/1", 200),
    Case("GET", "/users/{users}", 200),
    Case("GET", "/users/{user_with_orders}/orders", 200),
    Case("GET", "/users/{user_with_orders}/orders?limit=1", 200),
    Case("GET", "/users/{user_with_orders}/orders?limit=50", 200),
    Case("GET", "/users/{user_without_orders}/orders", 200),
    Case("GET", "/products/top", 200),
    Case("GET", "/products/top?limit=1", 200),
    Case("GET", "/products/top?limit=50", 200),
    Case("GET", "/lookup?name={lookup_name}", 200),
    Case("GET", "/lookup?name=surely-nobody-has-this-name", 200),
    Case("GET", "/lookup?name=" + "a" * 255, 200),
    Case("GET", "/lookup?name=Zo%C3%AB+%E2%9C%93", 200),
    Case("GET", "/io?ms=0", 200),
    Case("GET", "/io?ms=15", 200),
    Case("GET", "/io?ms=500&ms=1", 200),  # a repeated parameter: the last one counts
    Case("GET", "/pgsleep?ms=0", 200),
    Case("GET", "/pgsleep?ms=20", 200),
]

BAD = [
    # users
    Case("GET", "/users/{unknown_user}", 404),
    Case("GET", "/users/0", 404),
    Case("GET", "/users/-1", 404),
    Case("GET", "/users/9223372036854775807", 404),
    Case("GET", "/users/9223372036854775808", 400),
    Case("GET", "/users/-9223372036854775809", 400),
    Case("GET", "/users/123456789012345678901234567890", 400),
    Case("GET", "/users/abc", 400),
    Case("GET", "/users/1.5", 400),
    Case("GET", "/users/1e3", 400),
    Case("GET", "/users/%201", 400),
    Case("GET", "/users/%D9%A1", 400),  # ARABIC-INDIC DIGIT ONE, which int() would accept
    # orders of a user
    Case("GET", "/users/{unknown_user}/orders", 404),
    Case("GET", "/users/abc/orders", 400),
    Case("GET", "/users/abc/orders?limit=0", 400),
    Case("GET", "/users/1/orders?limit=0", 400),
    Case("GET", "/users/1/orders?limit=51", 400),
    Case("GET", "/users/1/orders?limit=-1", 400),
    Case("GET", "/users/1/orders?limit=abc", 400),
    Case("GET", "/users/1/orders?limit=", 400),
    # top products
    Case("GET", "/products/top?limit=0", 400),
    Case("GET", "/products/top?limit=51", 400),
    Case("GET", "/products/top?limit=ten", 400),
    # lookup
    Case("GET", "/lookup", 400),
    Case("GET", "/lookup?name=", 400),
    Case("GET", "/lookup?name=" + "a" * 256, 400),
    Case("GET", "/lookup?name=a%00b", 400),
    # io
    Case("GET", "/io", 400),
    Case("GET", "/io?ms=", 400),
    Case("GET", "/io?ms=-1", 400),
    Case("GET", "/io?ms=10001", 400),
    Case("GET", "/io?ms=abc", 400),
    Case("GET", "/io?ms=1.5", 400),
    Case("GET", "/io?ms=99999999999999999999999999", 400),
    # pgsleep
    Case("GET", "/pgsleep", 400),
    Case("GET", "/pgsleep?ms=-1", 400),
    Case("GET", "/pgsleep?ms=10001", 400),
    Case("GET", "/pgsleep?ms=0.05", 400),
    Case("GET", "/pgsleep?ms=pg_sleep(1)", 400),
    # routing
    Case("GET", "/nope", 404),
    Case("GET", "/json/", 404),
    Case("GET", "/users", 404),
    Case("POST", "/json", 405, b"{}"),
    Case("DELETE", "/users/1", 405),
    Case("GET", "/orders", 405),
    Case("PUT", "/orders", 405, b"{}"),
    # POST /orders: malformed
    Case("POST", "/orders", 400, b""),
    Case("POST", "/orders", 400, b"not json"),
    Case("POST", "/orders", 400, b"\xff\xfe"),
    Case("POST", "/orders", 400, b"[" * 100_000),
    Case("POST", "/orders", 400, b"[]"),
    Case("POST", "/orders", 400, b"{}"),
    Case("POST", "/orders", 400, b'{"user_id": 1}'),
    Case("POST", "/orders", 400, b'{"user_id": 1, "items": {}}'),
    Case("POST", "/orders", 400, _order(1)),
    Case("POST", "/orders", 400, _order("1", (1, 1))),
    Case("POST", "/orders", 400, b'{"user_id": true, "items": [{"product_id": 1, "quantity": 1}]}'),
    Case("POST", "/orders", 400, b'{"user_id": 1.0, "items": [{"product_id": 1, "quantity": 1}]}'),
    Case("POST", "/orders", 400, b'{"user_id": NaN, "items": [{"product_id": 1, "quantity": 1}]}'),
    Case("POST", "/orders", 400, _order(2**63, (1, 1))),
    Case("POST", "/orders", 400, _order(1, ("1", 1))),
    Case("POST", "/orders", 400, _order(1, (2**31, 1))),
    Case("POST", "/orders", 400, _order(1, (1, 0))),
    Case("POST", "/orders", 400, _order(1, (1, -1))),
    Case("POST", "/orders", 400, _order(1, (1, 1001))),
    Case("POST", "/orders", 400, _order(1, (1, True))),
    Case("POST", "/orders", 400, _order(1, (1, 1), (1, 2))),
    Case("POST", "/orders", 400, _order(1, *[(p, 1) for p in range(1, 52)])),
    Case("POST", "/orders", 400, b'{"user_id": 1, "items": ["x"]}'),
    # POST /orders: well-formed but refused
    Case("POST", "/orders", 404, _order(999_999_999, (1, 1))),
    Case("POST", "/orders", 404, _order(1, (UNKNOWN_PRODUCT, 1))),
    Case("POST", "/orders", 409, _order(1, (SOLD_OUT_PRODUCT, 1))),
    Case("POST", "/orders", 409, _order(1, (1, 1), (SOLD_OUT_PRODUCT, 1))),
]


def _path(case: Case, facts: Facts) -> str:
    return case.path.format(
        users=facts.users,
        unknown_user=facts.users + 1,
        user_with_orders=facts.user_with_orders,
        user_without_orders=facts.user_without_orders,
        lookup_name=quote(facts.lookup_name),
    )


def _send(client: httpx.Client, case: Case, facts: Facts) -> httpx.Response:
    return client.request(case.method, _path(case, facts), content=case.body)


def _payload(response: httpx.Response) -> Any:
    kind = response.headers.get("content-type", "").split(";")[0]
    if kind == "application/json":
        return response.json()
    return (kind, response.text)


def _all(clients: dict[str, httpx.Client], case: Case, facts: Facts) -> dict[str, httpx.Response]:
    return {name: _send(client, case, facts) for name, client in clients.items()}


def _assert_same(responses: dict[str, httpx.Response], case: Case) -> None:
    seen = {name: (r.status_code, _payload(r)) for name, r in responses.items()}
    for name, (status, payload) in seen.items():
        assert status == case.status, f"{name}: {case.id} answered {status}: {payload}"
    first_name, first = next(iter(seen.items()))
    for name, other in seen.items():
        assert other == first, f"{case.id}: {name} differs from {first_name}:\n{other}\n{first}"


VARIANTS = variant_names()
per_variant = pytest.mark.parametrize("variant", VARIANTS)


def test_every_variant_started(servers: dict[str, str]) -> None:
    assert list(servers) == VARIANTS
    assert {"flask-sync", "flask-gevent", "fastapi-async"} <= set(servers)


@pytest.mark.parametrize("case", GOOD, ids=lambda case: case.id)
def test_same_answer_everywhere(case: Case, clients: dict[str, httpx.Client], facts: Facts) -> None:
    _assert_same(_all(clients, case, facts), case)


@pytest.mark.parametrize("case", BAD, ids=lambda case: case.id)
def test_bad_input_gets_json_error(
    case: Case, clients: dict[str, httpx.Client], facts: Facts
) -> None:
    responses = _all(clients, case, facts)
    _assert_same(responses, case)
    for name, response in responses.items():
        assert response.headers["content-type"].startswith("application/json"), name
        body = response.json()
        assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"], name


def test_documents_match_the_database(
    clients: dict[str, httpx.Client], facts: Facts, db: psycopg.Connection
) -> None:
    client = next(iter(clients.values()))  # the others were shown to agree with it
    user = client.get("/users/1").json()
    name, email = db.execute("SELECT name, email FROM users WHERE id = 1").fetchone()
    assert (user["id"], user["name"], user["email"]) == (1, name, email)
    assert user["created_at"].endswith("Z") and user["updated_at"] >= user["created_at"]

    orders = client.get(f"/users/{facts.user_with_orders}/orders").json()
    expected = db.execute(
        "SELECT o.id, o.total_cents, count(*) FROM orders o JOIN order_items i ON i.order_id = o.id"
        " WHERE o.user_id = %s GROUP BY o.id ORDER BY o.created_at DESC, o.id DESC LIMIT 10",
        [facts.user_with_orders],
    ).fetchall()
    assert [(o["id"], o["total_cents"], o["item_count"]) for o in orders] == expected
    assert client.get(f"/users/{facts.user_without_orders}/orders").json() == []

    top = client.get("/products/top?limit=5").json()
    assert len(top) == 5
    sold = [p["units_sold"] for p in top]
    assert sold == sorted(sold, reverse=True)
    (best,) = db.execute(
        "SELECT sum(quantity)::bigint FROM order_items GROUP BY product_id ORDER BY 1 DESC LIMIT 1"
    ).fetchone()
    assert sold[0] == best

    found = client.get("/lookup", params={"name": facts.lookup_name}).json()
    assert found["found"] is True and found["user"]["name"] == facts.lookup_name
    assert client.get("/lookup", params={"name": "x" * 200}).json() == {"found": False}

    assert client.get("/json").json() == {"message": "Hello, World!"}
    assert client.get("/io?ms=15").json() == {"slept_ms": 15}
    plaintext = client.get("/plaintext")
    assert plaintext.text == "Hello, World!"
    assert plaintext.headers["content-type"].startswith("text/plain")


@per_variant
def test_fortunes_page(variant: str, clients: dict[str, httpx.Client]) -> None:
    response = clients[variant].get("/fortunes")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    html = response.text
    assert html.startswith("<!DOCTYPE html>")
    assert html.count("<tr>") == 14  # header + 12 seeded + 1 added at request time
    assert "<td>0</td><td>Additional fortune added at request time.</td>" in html
    assert "&lt;script&gt;alert(" in html and "<script>" not in html
    assert "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af" in html
    # sorted by message: the escaped <script> fortune sorts first, the Japanese one last
    assert html.index("<td>11</td>") < html.index("<td>4</td>") < html.index("<td>12</td>")


@per_variant
def test_every_response_carries_its_length(
    variant: str, clients: dict[str, httpx.Client], facts: Facts
) -> None:
    """Every server frames its responses with a Content-Length that is the body's length,
    not chunked (granian's WSGI and ASGI bridges included), so a client reuses the
    connection the same way on every variant."""
    client = clients[variant]
    for method, path, body in [
        ("GET", "/json", None),
        ("GET", "/plaintext", None),
        ("GET", "/fortunes", None),
        ("GET", "/users/1", None),
        ("GET", f"/users/{facts.user_with_orders}/orders?limit=50", None),
        ("GET", "/queries?queries=20", None),
        ("GET", "/nope", None),
        ("POST", "/json", b"{}"),
        ("POST", "/orders", b"not json"),
    ]:
        response = client.request(method, path, content=body)
        assert "transfer-encoding" not in response.headers, path
        assert response.headers["content-length"] == str(len(response.content)), path


def _world(db: psycopg.Connection) -> dict[int, int]:
    return dict(db.execute("SELECT id, randomnumber FROM world").fetchall())


@per_variant
@pytest.mark.parametrize(
    ("raw", "count"),
    [
        (None, 1),
        ("", 1),
        ("abc", 1),
        ("1.5", 1),
        ("0", 1),
        ("-5", 1),
        ("1", 1),
        ("7", 7),
        ("007", 7),
        ("500", 500),
        ("501", 500),
        ("99999999999999999999999", 500),
    ],
)
def test_queries_clamp_and_return_real_rows(
    variant: str,
    raw: str | None,
    count: int,
    clients: dict[str, httpx.Client],
    db: psycopg.Connection,
) -> None:
    world = _world(db)
    params = {} if raw is None else {"queries": raw}
    client = clients[variant]
    response = client.get("/queries", params=params)
    assert response.status_code == 200
    rows = response.json()
    assert isinstance(rows, list) and len(rows) == count
    for row in rows:
        assert set(row) == {"id", "randomNumber"}
        assert world[row["id"]] == row["randomNumber"]


@per_variant
def test_db_returns_a_real_row(
    variant: str, clients: dict[str, httpx.Client], db: psycopg.Connection
) -> None:
    world = _world(db)
    client = clients[variant]
    for _ in range(20):
        response = client.get("/db")
        assert response.status_code == 200
        row = response.json()
        assert set(row) == {"id", "randomNumber"}
        assert 1 <= row["id"] <= 10_000 and world[row["id"]] == row["randomNumber"]


@per_variant
@pytest.mark.parametrize(("raw", "count"), [("abc", 1), ("0", 1), ("20", 20), ("501", 500)])
def test_updates_clamp_and_persist(
    variant: str, raw: str, count: int, clients: dict[str, httpx.Client], db: psycopg.Connection
) -> None:
    client = clients[variant]
    response = client.get("/updates", params={"queries": raw})
    assert response.status_code == 200
    rows = response.json()
    assert len(rows) == count
    assert len({row["id"] for row in rows}) == count, "an id was updated twice"
    world = _world(db)
    for row in rows:
        assert set(row) == {"id", "randomNumber"}
        assert 1 <= row["randomNumber"] <= 10_000
        assert world[row["id"]] == row["randomNumber"], "update did not persist"


def _stock(db: psycopg.Connection, *products: int) -> dict[int, int]:
    rows = db.execute("SELECT id, stock FROM products WHERE id = ANY(%s)", [list(products)])
    return dict(rows.fetchall())


def test_place_order_is_one_transaction(
    clients: dict[str, httpx.Client], facts: Facts, db: psycopg.Connection
) -> None:
    items = [(7, 2), (3, 1), (12, 3)]  # unsorted on purpose
    prices = dict(
        db.execute("SELECT id, price_cents FROM products WHERE id IN (3, 7, 12)").fetchall()
    )
    bodies = {}
    for name, client in clients.items():
        before = _stock(db, 3, 7, 12)
        response = client.post("/orders", content=_order(facts.order_user, *items))
        assert response.status_code == 201, f"{name}: {response.text}"
        body = response.json()
        assert body["user_id"] == facts.order_user and body["status"] == "placed", name
        assert body["total_cents"] == sum(prices[p] * q for p, q in items), name
        assert body["created_at"].endswith("Z"), name
        after = _stock(db, 3, 7, 12)
        assert {p: before[p] - after[p] for p in after} == {p: q for p, q in items}, name
        stored = db.execute(
            "SELECT user_id, total_cents, status FROM orders WHERE id = %s", [body["id"]]
        ).fetchone()
        assert stored == (facts.order_user, body["total_cents"], "placed"), name
        lines = db.execute(
            "SELECT product_id, quantity, price_cents FROM order_items WHERE order_id = %s "
            "ORDER BY product_id",
            [body["id"]],
        ).fetchall()
        assert [
            (i["product_id"], i["quantity"], i["price_cents"]) for i in body["items"]
        ] == lines, name
        recent = client.get(f"/users/{facts.order_user}/orders?limit=1").json()
        assert recent[0]["id"] == body["id"] and recent[0]["item_count"] == 3, name
        bodies[name] = {k: v for k, v in body.items() if k not in ("id", "created_at")}
    assert len({json.dumps(b, sort_keys=True) for b in bodies.values()}) == 1, bodies


@per_variant
def test_refused_order_changes_nothing(
    variant: str, clients: dict[str, httpx.Client], facts: Facts, db: psycopg.Connection
) -> None:
    (orders_before,) = db.execute("SELECT count(*) FROM orders").fetchone()
    stock_before = _stock(db, 1, 2)
    client = clients[variant]
    # product 1 and 2 are reserved before the sold-out one is reached: all must roll back
    response = client.post(
        "/orders", content=_order(facts.order_user, (1, 1), (2, 1), (SOLD_OUT_PRODUCT, 1))
    )
    assert response.status_code == 409
    response = client.post(
        "/orders", content=_order(facts.order_user, (1, 1), (UNKNOWN_PRODUCT, 1))
    )
    assert response.status_code == 404
    assert db.execute("SELECT count(*) FROM orders").fetchone() == (orders_before,)
    assert _stock(db, 1, 2) == stock_before


@per_variant
def test_concurrent_writes_neither_deadlock_nor_fail(
    variant: str, clients: dict[str, httpx.Client], facts: Facts
) -> None:
    """Overlapping /updates and orders over the same products in opposite orders: with rows
    locked in a consistent order, none of them may fail."""
    rng = random.Random(7)
    orders = []
    for i in range(24):
        products = sorted(rng.sample(range(1, 10), 4), reverse=bool(i % 2))
        orders.append(_order(facts.order_user, *[(p, 1) for p in products]))

    def work(client: httpx.Client, i: int) -> int:
        if i % 2:
            return client.get("/updates?queries=50").status_code
        return client.post("/orders", content=orders[i // 2]).status_code

    client = clients[variant]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda i, c=client: work(c, i), range(48)))
    assert set(statuses) <= {200, 201}, statuses


@per_variant
def test_io_waits_concurrently(variant: str, clients: dict[str, httpx.Client]) -> None:
    """40 waits of 0.5 s take 20 s one after another and 10 s if each of the two workers
    served one at a time (a non-cooperative sleep under gevent); concurrent, about 1 s."""
    client = clients[variant]
    started = time.monotonic()
    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(lambda _, c=client: c.get("/io?ms=500").status_code, range(40)))
    elapsed = time.monotonic() - started
    assert statuses == [200] * 40
    assert elapsed < 5.0, f"40 concurrent /io?ms=500 took {elapsed:.1f}s"


@per_variant
def test_pgsleep_waits_in_the_database(
    variant: str, clients: dict[str, httpx.Client], db: psycopg.Connection
) -> None:
    """/pgsleep holds a pooled connection inside Postgres (pg_sleep), not in the app."""
    client = clients[variant]
    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        pending = pool.submit(client.get, "/pgsleep?ms=600")
        deadline = time.monotonic() + 5
        sleeping = 0
        while not sleeping and time.monotonic() < deadline:
            (sleeping,) = db.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%'"
                " AND state = 'active'"
            ).fetchone()
            time.sleep(0.02)
        response = pending.result()
    assert sleeping == 1, "no backend was running pg_sleep"
    assert response.status_code == 200 and response.json() == {"slept_ms": 600}
    assert time.monotonic() - started >= 0.6


def _waiting_on_locks(db: psycopg.Connection) -> int:
    (count,) = db.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
        "AND query LIKE 'UPDATE world%'"
    ).fetchone()
    return int(count)


@per_variant
def test_a_request_waiting_on_the_database_does_not_block_the_worker(
    variant: str, clients: dict[str, httpx.Client], dsn: str, db: psycopg.Connection
) -> None:
    """With /updates stuck on a table lock, /db must still answer. This is what makes
    flask-gevent a gevent variant at all: a psycopg wait that blocked the hub would stall
    every request of that worker. Six stuck requests leave gthread workers threads to spare."""
    client = clients[variant]
    with psycopg.connect(dsn) as locker:
        # SHARE blocks UPDATE but not SELECT
        locker.execute("LOCK TABLE world IN SHARE MODE")
        with ThreadPoolExecutor(6) as pool:
            stuck = [pool.submit(client.get, "/updates?queries=1") for _ in range(6)]
            try:
                deadline = time.monotonic() + 10
                while _waiting_on_locks(db) < len(stuck) and time.monotonic() < deadline:
                    time.sleep(0.05)
                waiting = _waiting_on_locks(db)
                assert waiting == len(stuck), (
                    f"only {waiting} of {len(stuck)} concurrent /updates reached the "
                    "database; a worker blocked on one is not serving the others"
                )
                for _ in range(6):
                    response = client.get("/db", timeout=3.0)
                    assert response.status_code == 200
            finally:
                locker.rollback()  # release the stuck requests whatever happened
            assert [f.result().status_code for f in stuck] == [200] * len(stuck)
