"""LOADLAB_JSON=orjson: Flask sends, byte for byte, what the FastAPI variants send (compact,
keys in insertion order, UTF-8 rather than \\u escapes, no trailing newline), against the
real servers. Flask's stock provider (the registry's stock json=stdlib) is left as it is."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest

from loadlab.core.registry import get_variant, load_registry
from loadlab.deployments.appserver import AppServer
from loadlab.deployments.postgres import PostgresCluster
from services.seed import SeedResult
from tests.contract.conftest import Facts

pytestmark = pytest.mark.slow

# A user whose name and email hold what encoders disagree on: non-ASCII, a character outside
# the BMP, quotes, a slash, control characters, U+2028. Its id is far from the seeded ones
# (and from the "unknown user" id other tests expect a 404 for); it is removed afterwards.
ODD_USER_ID = 10**12
ODD_NAME = 'Zoë "✓" </b> 😀\t\x01\x7f\u2028 end'
ODD_EMAIL = "zoë+ünïcode@例え.jp"

DETERMINISTIC = [
    "/json",
    "/healthz",
    "/io?ms=0",
    "/pgsleep?ms=0",
    "/users/1",
    f"/users/{ODD_USER_ID}",
    "/users/{user_with_orders}/orders",
    "/users/{user_without_orders}/orders",
    "/products/top?limit=20",
    "/lookup?name={lookup_name}",
    "/lookup?name=" + quote(ODD_NAME),
    "/lookup?name=nobody",
    # error bodies
    "/users/{unknown_user}",
    "/users/abc",
    "/products/top?limit=0",
    "/nope",
]


def _fastapi_variants() -> list[str]:
    return [name for name, v in load_registry().items() if v.framework == "fastapi"]


@pytest.fixture(scope="module")
def odd_user(dsn: str, seeded: SeedResult) -> Iterator[None]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (id, name, email, created_at, updated_at) VALUES "
            "(%s, %s, %s, '2024-02-29 23:59:59.123456+00', '2024-03-01 00:00:00+00')",
            [ODD_USER_ID, ODD_NAME, ODD_EMAIL],
        )
        try:
            yield
        finally:
            conn.execute("DELETE FROM users WHERE id = %s", [ODD_USER_ID])


@pytest.fixture(scope="module")
def orjson_flask(cluster: PostgresCluster, seeded: SeedResult) -> Iterator[httpx.Client]:
    """flask-sync with json=orjson, every other knob stock (one worker: only bytes count)."""
    log_dir = Path(tempfile.mkdtemp(prefix="loadlab-json-bytes-"))
    server = AppServer(
        get_variant("flask-sync"),
        cluster.dsn(),
        log_dir,
        knobs={"json": "orjson", "workers": 1, "pool_size": 2},
    )
    try:
        with server, httpx.Client(base_url=server.url, timeout=30.0) as client:
            yield client
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


def _path(template: str, facts: Facts) -> str:
    return template.format(
        unknown_user=facts.users + 1,
        user_with_orders=facts.user_with_orders,
        user_without_orders=facts.user_without_orders,
        lookup_name=quote(facts.lookup_name),
    )


@pytest.mark.parametrize("path", DETERMINISTIC)
def test_orjson_flask_sends_the_fastapi_bytes(
    path: str,
    orjson_flask: httpx.Client,
    clients: dict[str, httpx.Client],
    facts: Facts,
    odd_user: None,
) -> None:
    url = _path(path, facts)
    flask = orjson_flask.get(url)
    assert flask.headers["content-type"] == "application/json"
    assert flask.headers["content-length"] == str(len(flask.content))
    for name in _fastapi_variants():
        fastapi = clients[name].get(url)
        assert (fastapi.status_code, fastapi.headers["content-type"]) == (
            flask.status_code,
            flask.headers["content-type"],
        ), name
        assert fastapi.content == flask.content, f"{name}:\n{fastapi.content!r}\n{flask.content!r}"


def test_the_odd_user_round_trips(orjson_flask: httpx.Client, odd_user: None) -> None:
    body = orjson_flask.get(f"/users/{ODD_USER_ID}").content
    assert json.dumps(ODD_NAME, ensure_ascii=False).encode() in body
    assert b"\\u00eb" not in body and "ë".encode() in body  # UTF-8, not ASCII escapes
    assert body.index(b'"id"') < body.index(b'"name"') < body.index(b'"email"')  # not sorted
    assert b'"created_at":"2024-02-29T23:59:59.123456Z"' in body


def test_stock_flask_keeps_flasks_own_json(clients: dict[str, httpx.Client], facts: Facts) -> None:
    """json=stdlib is Flask's default provider, unchanged: sorted keys, ASCII, a newline."""
    flask_variants = [name for name, v in load_registry().items() if v.framework == "flask"]
    for name in flask_variants:
        body = clients[name].get("/users/1").content
        assert body.endswith(b"}\n"), name
        assert body.index(b'"created_at"') < body.index(b'"email"') < body.index(b'"id"'), name
