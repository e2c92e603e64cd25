"""The per-process psycopg connection pool.

gunicorn forks its workers, and a pool opened before the fork would share sockets between
processes, so the pool is opened on first use inside the worker and reopened if the process
id changes (for example under ``--preload``). Under the gevent worker everything here is
monkey-patched: the lock and the pool's filler threads become greenlets, and psycopg
(>= 3.1.14) waits on sockets cooperatively.
"""

from __future__ import annotations

import os
import threading

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from services.common.config import database_url, pool_size

_lock = threading.Lock()
_pool: ConnectionPool | None = None
_pool_pid: int | None = None


def get_pool() -> ConnectionPool:
    pool = _pool
    if pool is not None and _pool_pid == os.getpid():
        return pool
    return _open_pool()


def _open_pool() -> ConnectionPool:
    global _pool, _pool_pid
    with _lock:
        if _pool is None or _pool_pid != os.getpid():
            size = pool_size()
            # An inherited pool is dropped, not closed: closing would send Terminate on
            # sockets the parent still uses.
            _pool = ConnectionPool(
                database_url(),
                min_size=size,
                max_size=size,
                # autocommit: a read is one round trip, as with asyncpg; writes open an
                # explicit transaction.
                kwargs={"autocommit": True, "row_factory": dict_row},
                name="loadlab",
                open=True,
            )
            _pool_pid = os.getpid()
        return _pool
