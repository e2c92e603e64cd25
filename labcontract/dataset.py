"""The seeded data's shape: the RNG seed and the row counts per scale.

The seeder (services/seed.py) writes these rows and the Locust side draws ids from them, so
a request never asks for a row the seed did not make.
"""

from __future__ import annotations

DEFAULT_SEED = 20240601
USERS_AT_SCALE_1 = 1_000_000  # the published MySQL benchmark's table size
PRODUCTS_AT_SCALE_1 = 10_000
MIN_PRODUCTS = 100  # enough for a search and a top-10 to mean something at a tiny scale
ORDERS_AT_SCALE_1 = 1_000_000
SOLD_OUT_EVERY = 50  # every 50th product has no stock: a checkout of it answers 409


def check_scale(scale: float) -> None:
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")


def users_for_scale(scale: float) -> int:
    """N in docs/contracts.md: seeded users have ids 1..N."""
    check_scale(scale)
    return max(1, round(USERS_AT_SCALE_1 * scale))


def products_for_scale(scale: float) -> int:
    check_scale(scale)
    return max(MIN_PRODUCTS, round(PRODUCTS_AT_SCALE_1 * scale))


def orders_for_scale(scale: float) -> int:
    check_scale(scale)
    return max(1, round(ORDERS_AT_SCALE_1 * scale))


def products_for_users(users: int) -> int:
    """The product count of the scale that seeded `users` users: what the Locust side knows
    (LOADLAB_USERS_SEEDED) is enough to draw product ids."""
    return max(MIN_PRODUCTS, round(users * PRODUCTS_AT_SCALE_1 / USERS_AT_SCALE_1))
