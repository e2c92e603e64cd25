"""The services' environment readers (services/common/config.py): defaults, and a bad value
is refused with a message that names the variable and what it takes."""

from __future__ import annotations

import pytest

from services.common import config


@pytest.mark.parametrize(
    ("variable", "reader", "unset"),
    [
        ("LOADLAB_POOL_SIZE", config.pool_size, 10),
        ("LOADLAB_JSON", config.json_provider, "stdlib"),
        ("LOADLAB_ASYNCPG_RESET", config.asyncpg_reset, True),
        ("LOADLAB_THREADS", config.threads, 40),
    ],
)
def test_defaults(variable: str, reader: object, unset: object, monkeypatch) -> None:
    monkeypatch.delenv(variable, raising=False)
    assert reader() == unset  # type: ignore[operator]
    monkeypatch.setenv(variable, "  ")
    assert reader() == unset  # type: ignore[operator]


@pytest.mark.parametrize(
    ("variable", "raw", "value"),
    [
        ("LOADLAB_JSON", "orjson", "orjson"),
        ("LOADLAB_JSON", "stdlib", "stdlib"),
        ("LOADLAB_ASYNCPG_RESET", "0", False),
        ("LOADLAB_ASYNCPG_RESET", " 1 ", True),
        ("LOADLAB_THREADS", "160", 160),
        ("LOADLAB_POOL_SIZE", "32", 32),
    ],
)
def test_good_values(variable: str, raw: str, value: object, monkeypatch) -> None:
    monkeypatch.setenv(variable, raw)
    reader = {
        "LOADLAB_JSON": config.json_provider,
        "LOADLAB_ASYNCPG_RESET": config.asyncpg_reset,
        "LOADLAB_THREADS": config.threads,
        "LOADLAB_POOL_SIZE": config.pool_size,
    }[variable]
    assert reader() == value


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        ("LOADLAB_JSON", "ujson", "LOADLAB_JSON must be one of stdlib, orjson, got 'ujson'"),
        ("LOADLAB_JSON", "ORJSON", "LOADLAB_JSON must be one of stdlib, orjson"),
        ("LOADLAB_ASYNCPG_RESET", "true", "LOADLAB_ASYNCPG_RESET must be 1 or 0, got 'true'"),
        ("LOADLAB_ASYNCPG_RESET", "2", "LOADLAB_ASYNCPG_RESET must be 1 or 0"),
        ("LOADLAB_THREADS", "0", "LOADLAB_THREADS must be a positive integer from 1 to 1024"),
        ("LOADLAB_THREADS", "1025", "LOADLAB_THREADS must be a positive integer from 1 to 1024"),
        ("LOADLAB_THREADS", "ten", "got 'ten'"),
        ("LOADLAB_POOL_SIZE", "-1", "LOADLAB_POOL_SIZE must be a positive integer, got '-1'"),
    ],
)
def test_bad_values_name_the_variable(variable: str, raw: str, message: str, monkeypatch) -> None:
    monkeypatch.setenv(variable, raw)
    reader = {
        "LOADLAB_JSON": config.json_provider,
        "LOADLAB_ASYNCPG_RESET": config.asyncpg_reset,
        "LOADLAB_THREADS": config.threads,
        "LOADLAB_POOL_SIZE": config.pool_size,
    }[variable]
    with pytest.raises(RuntimeError, match=message.replace("(", r"\(")):
        reader()


def test_the_orjson_provider_is_flasks_json_when_asked(monkeypatch) -> None:
    from services.flask_app.app import create_app
    from services.flask_app.json_provider import OrjsonProvider

    monkeypatch.setenv("LOADLAB_JSON", "orjson")
    app = create_app()
    assert isinstance(app.json, OrjsonProvider)
    with app.test_request_context():
        response = app.json.response({"b": 1, "a": "ë"})
    assert response.get_data() == '{"b":1,"a":"ë"}'.encode()
    assert app.json.dumps({"b": 1, "a": 2}, sort_keys=True) == '{"a":2,"b":1}'
    assert app.json.dumps([1], indent=4) == "[\n    1\n]"  # beyond orjson: the stdlib
    monkeypatch.setenv("LOADLAB_JSON", "stdlib")
    assert not isinstance(create_app().json, OrjsonProvider)
