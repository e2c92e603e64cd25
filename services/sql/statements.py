"""Every query the services run, written once in a neutral form and rendered per driver.

The neutral form names its parameters ``:name``. psycopg gets ``%(name)s`` and a mapping;
asyncpg gets ``$1..$n`` (numbered in order of first appearance) and positional arguments
from ``Statement.args``. Both drivers therefore send the server the same statement text
apart from the placeholder spelling, so pg_stat_statements groups them alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# ``::type`` casts must survive, hence the look-behind and look-ahead on the colon.
_PARAM = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Statement:
    text: str
    params: tuple[str, ...] = field(init=False)
    psycopg: str = field(init=False)
    asyncpg: str = field(init=False)

    def __post_init__(self) -> None:
        names: list[str] = []
        for name in _PARAM.findall(self.text):
            if name not in names:
                names.append(name)
        # psycopg treats a literal % as the start of a placeholder, so it must be doubled.
        psycopg = _PARAM.sub(r"%(\1)s", self.text.replace("%", "%%"))
        asyncpg = _PARAM.sub(lambda m: f"${names.index(m.group(1)) + 1}", self.text)
        object.__setattr__(self, "params", tuple(names))
        object.__setattr__(self, "psycopg", psycopg)
        object.__setattr__(self, "asyncpg", asyncpg)

    def args(self, values: Mapping[str, Any] | None = None, /, **kwargs: Any) -> tuple[Any, ...]:
        """Positional arguments for the asyncpg form, in placeholder order."""
        merged = {**(values or {}), **kwargs}
        missing = [name for name in self.params if name not in merged]
        if missing:
            raise KeyError(f"missing SQL parameters: {', '.join(missing)}")
        return tuple(merged[name] for name in self.params)


def _sql(text: str) -> Statement:
    return Statement(" ".join(text.split()))


PING = _sql("SELECT 1")

# Holds a pooled connection for the whole wait: the regime where the pool and the server's
# concurrency model, not the framework, decide the throughput (Bilouro's pg_sleep test).
PG_SLEEP = _sql("SELECT pg_sleep(:seconds)")

# --- TechEmpower -------------------------------------------------------------------------
WORLD_BY_ID = _sql("SELECT id, randomnumber FROM world WHERE id = :id")

WORLD_UPDATE = _sql("UPDATE world SET randomnumber = :randomnumber WHERE id = :id")

FORTUNES = _sql("SELECT id, message FROM fortune")

# --- shop --------------------------------------------------------------------------------
USER_BY_ID = _sql("SELECT id, name, email, created_at, updated_at FROM users WHERE id = :id")

USER_EXISTS = _sql("SELECT 1 FROM users WHERE id = :id")

# Names are not unique; ORDER BY id makes the answer the same on every variant.
USER_BY_NAME = _sql(
    """
    SELECT id, name, email, created_at, updated_at FROM users
    WHERE name = :name ORDER BY id LIMIT 1
    """
)

USER_RECENT_ORDERS = _sql(
    """
    SELECT o.id, o.created_at, o.status, o.total_cents, count(oi.order_id) AS item_count
    FROM (
        SELECT id, created_at, status, total_cents FROM orders
        WHERE user_id = :user_id
        ORDER BY created_at DESC, id DESC
        LIMIT :limit
    ) AS o
    LEFT JOIN order_items AS oi ON oi.order_id = o.id
    GROUP BY o.id, o.created_at, o.status, o.total_cents
    ORDER BY o.created_at DESC, o.id DESC
    """
)

# sum() over integer is bigint, which both drivers return as int (numeric would be Decimal).
TOP_PRODUCTS = _sql(
    """
    SELECT p.id, p.name, p.price_cents, s.units_sold
    FROM (
        SELECT product_id, sum(quantity) AS units_sold FROM order_items
        GROUP BY product_id
        ORDER BY units_sold DESC, product_id
        LIMIT :limit
    ) AS s
    JOIN products AS p ON p.id = s.product_id
    ORDER BY s.units_sold DESC, p.id
    """
)

# The stock check and the decrement are one statement, so two concurrent orders can never
# both take the last unit; no row back means "unknown product" or "not enough stock".
PRODUCT_RESERVE = _sql(
    """
    UPDATE products SET stock = stock - :quantity
    WHERE id = :product_id AND stock >= :quantity
    RETURNING price_cents
    """
)

PRODUCT_EXISTS = _sql("SELECT 1 FROM products WHERE id = :product_id")

ORDER_INSERT = _sql(
    """
    INSERT INTO orders (user_id, created_at, status, total_cents)
    VALUES (:user_id, now(), 'placed', :total_cents)
    RETURNING id, user_id, created_at, status, total_cents
    """
)

ORDER_ITEM_INSERT = _sql(
    """
    INSERT INTO order_items (order_id, product_id, quantity, price_cents)
    VALUES (:order_id, :product_id, :quantity, :price_cents)
    """
)
