"""Database rows to JSON-ready dicts, shared so both drivers produce identical bodies.

Rows come as psycopg dict rows or asyncpg Records; both support ``row["column"]``.
Timestamps become ISO-8601 in UTC with a ``Z`` (psycopg would otherwise render the
session time zone and asyncpg UTC); money stays integer cents.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def iso_utc(value: datetime) -> str:
    if value.tzinfo is None:  # timestamptz never is; guard against a timestamp column
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def world(row: Row) -> dict[str, int]:
    return {"id": row["id"], "randomNumber": row["randomnumber"]}


def user(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "email": row["email"],
        "created_at": iso_utc(row["created_at"]),
        "updated_at": iso_utc(row["updated_at"]),
    }


def order_summary(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "created_at": iso_utc(row["created_at"]),
        "status": row["status"],
        "total_cents": row["total_cents"],
        "item_count": row["item_count"],
    }


def top_product(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "price_cents": row["price_cents"],
        "units_sold": row["units_sold"],
    }


def placed_order(order: Row, items: Iterable[tuple[int, int, int]]) -> dict[str, Any]:
    """The POST /orders answer; items are (product_id, quantity, price_cents)."""
    return {
        "id": order["id"],
        "user_id": order["user_id"],
        "created_at": iso_utc(order["created_at"]),
        "status": order["status"],
        "total_cents": order["total_cents"],
        "items": [
            {"product_id": product_id, "quantity": quantity, "price_cents": price_cents}
            for product_id, quantity, price_cents in items
        ],
    }


def lookup(row: Row | None) -> dict[str, Any]:
    return {"found": False} if row is None else {"found": True, "user": user(row)}


def worlds(rows: Sequence[Row]) -> list[dict[str, int]]:
    return [world(row) for row in rows]
