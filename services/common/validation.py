"""Input parsing shared by every variant. Each function takes the raw value the framework
hands over (a string, ``None`` when absent, or the request body's bytes) and either returns
a clean value or raises ``ApiError`` with a 4xx status, so bad input never reaches SQL."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from services.common.errors import ApiError

BIGINT_MIN, BIGINT_MAX = -(2**63), 2**63 - 1
INT_MIN, INT_MAX = -(2**31), 2**31 - 1

MAX_QUERIES = 500
DEFAULT_LIMIT, MAX_LIMIT = 10, 50
MAX_SLEEP_MS = 10_000
MAX_NAME_LENGTH = 255  # users.name is varchar(255)
MAX_ORDER_ITEMS = 50
MAX_ITEM_QUANTITY = 1_000

# Python's int() also accepts whitespace, underscores and non-ASCII digits ("١٢"); an id in
# a URL should be plain ASCII digits. The length cap keeps int() away from huge inputs.
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_DIGITS = re.compile(r"[0-9]+")


def _integer(raw: str | None) -> int | None:
    if raw is None or not _INTEGER.fullmatch(raw):
        return None
    return int(raw)


def parse_user_id(raw: str) -> int:
    value = _integer(raw)
    if value is None or not BIGINT_MIN <= value <= BIGINT_MAX:
        raise ApiError(400, "user id must be an integer between -2^63 and 2^63-1")
    return value


def parse_queries(raw: str | None) -> int:
    """TechEmpower's rule: never an error; junk or < 1 means 1, more than 500 means 500."""
    if raw is None or not _DIGITS.fullmatch(raw):
        return 1  # missing, junk or negative
    digits = raw.lstrip("0")
    if len(digits) > len(str(MAX_QUERIES)):  # clamp without parsing a huge number
        return MAX_QUERIES
    return max(1, min(int(digits or "0"), MAX_QUERIES))


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    value = _integer(raw)
    if value is None or not 1 <= value <= MAX_LIMIT:
        raise ApiError(400, f"limit must be an integer between 1 and {MAX_LIMIT}")
    return value


def parse_sleep_ms(raw: str | None) -> int:
    value = _integer(raw)
    if value is None or not 0 <= value <= MAX_SLEEP_MS:
        raise ApiError(400, f"ms must be an integer between 0 and {MAX_SLEEP_MS}")
    return value


def parse_lookup_name(raw: str | None) -> str:
    if not raw:
        raise ApiError(400, "name is required")
    if len(raw) > MAX_NAME_LENGTH:
        raise ApiError(400, f"name must be at most {MAX_NAME_LENGTH} characters")
    if "\x00" in raw:  # PostgreSQL text cannot hold NUL; the driver would fail with a 500
        raise ApiError(400, "name must not contain NUL characters")
    return raw


@dataclass(frozen=True)
class OrderItem:
    product_id: int
    quantity: int


@dataclass(frozen=True)
class OrderRequest:
    user_id: int
    items: tuple[OrderItem, ...]


def _json_int(value: Any, lo: int, hi: int) -> int | None:
    # bool is an int subclass: true must not become product 1
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        return None
    return value


def parse_order(body: bytes) -> OrderRequest:
    """The POST /orders body: ``{"user_id": int, "items": [{"product_id", "quantity"}]}``.

    Any malformed body is a 400 (never FastAPI's 422), so every variant agrees."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: deeply nested arrays
        raise ApiError(400, "request body must be valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "request body must be a JSON object")

    user_id = _json_int(data.get("user_id"), BIGINT_MIN, BIGINT_MAX)
    if user_id is None:
        raise ApiError(400, "user_id must be an integer between -2^63 and 2^63-1")

    raw_items = data.get("items")
    if not isinstance(raw_items, list) or not 1 <= len(raw_items) <= MAX_ORDER_ITEMS:
        raise ApiError(400, f"items must be a list of 1 to {MAX_ORDER_ITEMS} items")

    items: list[OrderItem] = []
    for raw in raw_items:
        if not isinstance(raw, dict):
            raise ApiError(400, "each item must be an object with product_id and quantity")
        product_id = _json_int(raw.get("product_id"), INT_MIN, INT_MAX)
        if product_id is None:
            raise ApiError(400, "product_id must be an integer between -2^31 and 2^31-1")
        quantity = _json_int(raw.get("quantity"), 1, MAX_ITEM_QUANTITY)
        if quantity is None:
            raise ApiError(400, f"quantity must be an integer between 1 and {MAX_ITEM_QUANTITY}")
        items.append(OrderItem(product_id, quantity))

    if len({item.product_id for item in items}) != len(items):
        raise ApiError(400, "each product_id may appear only once")
    return OrderRequest(user_id, tuple(items))
