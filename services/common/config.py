"""Configuration by environment only (docs/contracts.md): DATABASE_URL, LOADLAB_POOL_SIZE."""

from __future__ import annotations

import os

DEFAULT_POOL_SIZE = 10


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "").strip()
    if not url:
        raise RuntimeError("DATABASE_URL is not set (postgresql://USER:PASSWORD@HOST:PORT/DB)")
    return url


def pool_size() -> int:
    raw = os.environ.get("LOADLAB_POOL_SIZE", "").strip()
    if not raw:
        return DEFAULT_POOL_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise RuntimeError(f"LOADLAB_POOL_SIZE must be a positive integer, got {raw!r}") from None
    if size < 1:
        raise RuntimeError(f"LOADLAB_POOL_SIZE must be a positive integer, got {raw!r}")
    return size
