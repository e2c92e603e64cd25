"""Configuration by environment only (docs/contracts.md).

Every variant: DATABASE_URL, LOADLAB_POOL_SIZE. Per variant, as the registry's knobs render
them (loadlab/data/variants.toml): LOADLAB_JSON (Flask), LOADLAB_ASYNCPG_RESET (asyncpg),
LOADLAB_THREADS (fastapi-sync). A value a service cannot use stops it at start-up with a
message naming the variable, never silently falls back to a default.
"""

from __future__ import annotations

import os
from typing import Literal

DEFAULT_POOL_SIZE = 10
DEFAULT_THREADS = 40  # anyio's own default thread limiter: what Starlette users get
MAX_THREADS = 1024
JSON_PROVIDERS = ("stdlib", "orjson")

JsonProvider = Literal["stdlib", "orjson"]


def _raw(name: str) -> str:
    return os.environ.get(name, "").strip()


def _positive_int(name: str, default: int, maximum: int | None = None) -> int:
    raw = _raw(name)
    if not raw:
        return default
    bound = f" from 1 to {maximum}" if maximum else ""
    try:
        value = int(raw)
    except ValueError:
        raise RuntimeError(f"{name} must be a positive integer{bound}, got {raw!r}") from None
    if value < 1 or (maximum is not None and value > maximum):
        raise RuntimeError(f"{name} must be a positive integer{bound}, got {raw!r}")
    return value


def database_url() -> str:
    url = _raw("DATABASE_URL")
    if not url:
        raise RuntimeError("DATABASE_URL is not set (postgresql://USER:PASSWORD@HOST:PORT/DB)")
    return url


def pool_size() -> int:
    return _positive_int("LOADLAB_POOL_SIZE", DEFAULT_POOL_SIZE)


def json_provider() -> JsonProvider:
    """LOADLAB_JSON: Flask's JSON provider, `stdlib` (Flask's default) or `orjson`."""
    raw = _raw("LOADLAB_JSON") or "stdlib"
    if raw == "stdlib":
        return "stdlib"
    if raw == "orjson":
        return "orjson"
    raise RuntimeError(f"LOADLAB_JSON must be one of {', '.join(JSON_PROVIDERS)}, got {raw!r}")


def asyncpg_reset() -> bool:
    """LOADLAB_ASYNCPG_RESET: `1` (asyncpg's default reset on release) or `0` (none)."""
    raw = _raw("LOADLAB_ASYNCPG_RESET") or "1"
    if raw not in ("0", "1"):
        raise RuntimeError(f"LOADLAB_ASYNCPG_RESET must be 1 or 0, got {raw!r}")
    return raw == "1"


def threads() -> int:
    """LOADLAB_THREADS: the size of the thread pool `def` endpoints run on (per worker)."""
    return _positive_int("LOADLAB_THREADS", DEFAULT_THREADS, MAX_THREADS)
