"""Deterministic row generation for the seed, as COPY text-format chunks.

Every table draws from its own ``random.Random`` seeded with ``"<seed>/<table>"``, so a
table's rows depend only on the seed and the scale. Only ``Random.random()`` is used: it is
the one method whose stream Python guarantees across versions, so the same seed gives the
same rows (and checksum) on every machine of a cluster.

Rows are built as tab-separated text lines and joined into large chunks: far cheaper than
per-row adaptation, which is what lets 1M users plus 1M orders load in about a minute.
Generated values never contain tabs, newlines or backslashes, so no COPY escaping is needed.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

# products whose id is a multiple of SOLD_OUT_EVERY start with stock 0 (the 409 path)
from labcontract.dataset import SOLD_OUT_EVERY

GENERATOR_VERSION = "1"  # bump whenever generated rows change, so reuse checks notice

CHUNK_ROWS = 20_000
WORLD_ROWS = 10_000

EPOCH = datetime(2021, 1, 1, tzinfo=UTC)
SPAN_DAYS = 3 * 365
SECONDS_PER_DAY = 86_400

# The order of every word list below is part of the data: changing it changes the rows,
# so bump GENERATOR_VERSION with it.
FIRST_NAMES = (  # noqa: SIM905 -- a word list reads better as prose
    "Aaliyah Aarav Abigail Adam Adrian Aiden Alejandro Alexander Alice Amelia Ana Andrew "
    "Anna Aria Arjun Ava Benjamin Caleb Camila Carlos Charlotte Chloe Chen Daniel David "
    "Diego Dmitri Elena Eli Elijah Ella Emily Emma Ethan Eva Fatima Felix Gabriel Grace "
    "Hannah Harper Hiroshi Ibrahim Isabella Isla Jack Jacob James Jana Jasper Javier Julia "
    "Kai Kenji Layla Leah Leo Liam Lily Lucas Luca Lucia Luna Maya Mateo Mia Michael Mila "
    "Mohammed Nadia Noah Nora Olivia Omar Oscar Priya Rafael Riley Rosa Ruby Samuel Santiago "
    "Sara Sofia Sophia Stella Theo Thomas Valentina Victoria Wei William Yara Yusuf Zara Zoe"
).split()

LAST_NAMES = (  # noqa: SIM905 -- a word list reads better as prose
    "Abe Adams Ahmed Ali Allen Alvarez Anderson Bailey Baker Bauer Becker Bennett Brooks "
    "Brown Campbell Carter Castro Chen Clark Cohen Collins Cook Cooper Cruz Davis Diaz Dubois "
    "Edwards Evans Fischer Flores Garcia Gomez Gonzalez Gray Green Hall Harris Hernandez Hill "
    "Hoffmann Hughes Ivanov Jackson James Johnson Jones Kaur Kelly Khan Kim King Kowalski Lee "
    "Lewis Li Lopez Martin Martinez Meyer Miller Mitchell Moore Morales Morgan Muller Murphy "
    "Nakamura Nelson Nguyen Novak Okafor Ortiz Parker Patel Perez Peterson Phillips Ramirez "
    "Reyes Richter Rivera Roberts Robinson Rodriguez Rossi Sanchez Sato Schmidt Schneider "
    "Scott Silva Singh Smith Suzuki Tanaka Taylor Thomas Thompson Torres Turner Walker Wang "
    "Weber Williams Wilson Wright Wu Yamamoto Young Zhang"
).split()

PRODUCT_ADJECTIVES = (  # noqa: SIM905 -- a word list reads better as prose
    "Small Large Ergonomic Rustic Sleek Durable Compact Portable Classic Modern Vintage "
    "Lightweight Heavy-Duty Premium Essential Organic Recycled Smart Wireless Handmade"
).split()

PRODUCT_NOUNS = (  # noqa: SIM905 -- a word list reads better as prose
    "Chair Table Lamp Mug Backpack Keyboard Mouse Notebook Pen Bottle Jacket Shoes Watch "
    "Speaker Headphones Blanket Pillow Kettle Knife Pan Plate Bowl Towel Candle Clock"
).split()

# (cumulative probability, status): most historical orders are done with.
ORDER_STATUSES = (
    (0.60, "delivered"),
    (0.75, "shipped"),
    (0.85, "paid"),
    (0.95, "placed"),
    (1.00, "cancelled"),
)

# TechEmpower's fortunes, verbatim (the HTML-escaping test is number 11).
FORTUNES = (
    (1, "fortune: No such file or directory"),
    (2, "A computer scientist is someone who fixes things that aren't broken."),
    (3, "After enough decimal places, nobody gives a damn."),
    (4, "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"),
    (5, "A computer program does what you tell it to do, not what you want it to do."),
    (6, "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"),
    (7, "Any program that runs right is obsolete."),
    (8, "A list is only as strong as its weakest link. \u2014 Donald Knuth"),
    (9, "Feature: A bug with seniority."),
    (10, "Computers make very fast, very accurate mistakes."),
    (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
    (12, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
)


def rng_for(seed: int, table: str) -> random.Random:
    return random.Random(f"{seed}/{table}")


class _Timestamps:
    """Seconds since EPOCH to COPY text, through lookup tables: formatting a datetime per
    value would be the seed's largest cost."""

    def __init__(self, days: int) -> None:
        self.days = [(EPOCH + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(days)]
        self.clock = [
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(SECONDS_PER_DAY)
        ]

    def text(self, seconds: int) -> str:
        day, second = divmod(seconds, SECONDS_PER_DAY)
        return self.days[day] + self.clock[second]


_timestamps: _Timestamps | None = None


def _ts() -> _Timestamps:
    global _timestamps
    if _timestamps is None:
        # updated_at may lie up to a year after created_at
        _timestamps = _Timestamps(SPAN_DAYS + 366)
    return _timestamps


def users(count: int, seed: int) -> Iterator[tuple[int, str]]:
    """(rows in chunk, chunk) for ``users (id, name, email, created_at, updated_at)``."""
    rand = rng_for(seed, "users").random
    ts = _ts()
    firsts = [(name, name.lower()) for name in FIRST_NAMES]
    lasts = [(name, name.lower()) for name in LAST_NAMES]
    n_first, n_last = len(firsts), len(lasts)
    span = SPAN_DAYS * SECONDS_PER_DAY
    for start in range(1, count + 1, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, count + 1)
        lines = []
        for uid in range(start, stop):
            first, first_l = firsts[int(rand() * n_first)]
            last, last_l = lasts[int(rand() * n_last)]
            created = int(rand() * span)
            updated = created + int(rand() * 365 * SECONDS_PER_DAY)
            lines.append(
                f"{uid}\t{first} {last}\t{first_l}.{last_l}{uid}@example.com\t"
                f"{ts.text(created)}\t{ts.text(updated)}\n"
            )
        yield stop - start, "".join(lines)


def product_prices(count: int, seed: int) -> list[int]:
    """Price in cents of products 1..count (index 0 unused), needed again by order items."""
    rand = rng_for(seed, "product-prices").random
    return [0, *(99 + int(rand() * 49_901) for _ in range(count))]


def products(count: int, seed: int, prices: list[int]) -> Iterator[tuple[int, str]]:
    """``products (id, name, price_cents, stock)``; every SOLD_OUT_EVERY-th is sold out."""
    rand = rng_for(seed, "products").random
    n_adj, n_noun = len(PRODUCT_ADJECTIVES), len(PRODUCT_NOUNS)
    for start in range(1, count + 1, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, count + 1)
        lines = []
        for pid in range(start, stop):
            adjective = PRODUCT_ADJECTIVES[int(rand() * n_adj)]
            noun = PRODUCT_NOUNS[int(rand() * n_noun)]
            stock = 0 if pid % SOLD_OUT_EVERY == 0 else 10_000 + int(rand() * 990_001)
            lines.append(f"{pid}\t{adjective} {noun} {pid}\t{prices[pid]}\t{stock}\n")
        yield stop - start, "".join(lines)


def orders_and_items(
    count: int, users_count: int, prices: list[int], seed: int
) -> Iterator[tuple[int, str, int, str]]:
    """(orders in chunk, orders chunk, items in chunk, items chunk) for
    ``orders (id, user_id, created_at, status, total_cents)`` and
    ``order_items (order_id, product_id, quantity, price_cents)``: generated together because
    an order's total is the sum of its items. 1-5 distinct products per order (mean 3)."""
    rand = rng_for(seed, "orders").random
    ts = _ts()
    n_products = len(prices) - 1
    span = SPAN_DAYS * SECONDS_PER_DAY
    for start in range(1, count + 1, CHUNK_ROWS):
        stop = min(start + CHUNK_ROWS, count + 1)
        order_lines = []
        item_lines = []
        for oid in range(start, stop):
            user_id = 1 + int(rand() * users_count)
            created = ts.text(int(rand() * span))
            draw = rand()
            status = next(name for limit, name in ORDER_STATUSES if draw < limit)
            wanted = 1 + int(rand() * 5)
            chosen: set[int] = set()
            total = 0
            while len(chosen) < wanted:
                product_id = 1 + int(rand() * n_products)
                if product_id in chosen:
                    continue
                chosen.add(product_id)
                # mostly one unit, sometimes a few
                quantity = 1 if rand() < 0.7 else 2 + int(rand() * 4)
                price = prices[product_id]
                total += quantity * price
                item_lines.append(f"{oid}\t{product_id}\t{quantity}\t{price}\n")
            order_lines.append(f"{oid}\t{user_id}\t{created}\t{status}\t{total}\n")
        items_in_chunk = len(item_lines)
        yield stop - start, "".join(order_lines), items_in_chunk, "".join(item_lines)


def world(seed: int) -> Iterator[tuple[int, str]]:
    """``world (id, randomnumber)``: always 10,000 rows, numbers 1..10,000."""
    rand = rng_for(seed, "world").random
    lines = [f"{wid}\t{1 + int(rand() * WORLD_ROWS)}\n" for wid in range(1, WORLD_ROWS + 1)]
    yield WORLD_ROWS, "".join(lines)
