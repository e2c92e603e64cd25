"""The lab's shipped trace: a deterministic request log of the shop model.

Shoppers arrive at random (a Poisson process), look at their profile, then browse top
products, search, read their order history and sometimes check out, thinking a few seconds
between pages. The same seed and settings always give the same file, so the trace in the
repository can be checked against its generator.
"""

from __future__ import annotations

import random
import string
from pathlib import Path

from loadtests.replay import SHOP_TRACE
from loadtests.trace import TraceRequest, to_csv

DEFAULT_SEED = 20240601
USERS = 1_000_000  # ids as at scale 1.0; a replay folds them into the seeded range

# (weight, page) of each step after the first; a checkout ends the visit
_STEPS = [(30, "top"), (30, "search"), (25, "history"), (15, "checkout")]


def _page(kind: str, user: int, rng: random.Random) -> tuple[str, str, str]:
    if kind == "profile":
        return "GET", f"/users/{user}", ""
    if kind == "top":
        return "GET", "/products/top", "limit=10"
    if kind == "search":
        name = "".join(rng.choices(string.ascii_letters, k=rng.randint(3, 20)))
        return "GET", "/lookup", f"name={name}"
    if kind == "history":
        return "GET", f"/users/{user}/orders", "limit=10"
    return "POST", "/orders", ""


def shop_trace(
    seed: int = DEFAULT_SEED,
    duration_s: float = 120.0,
    visits_per_s: float = 4.0,
    think_s: float = 2.0,
) -> list[TraceRequest]:
    rng = random.Random(seed)
    requests: list[TraceRequest] = []
    arrival = 0.0
    while True:
        arrival += rng.expovariate(visits_per_s)
        if arrival >= duration_s:
            break
        user = rng.randint(1, USERS)
        at, kind = arrival, "profile"
        for _ in range(rng.randint(1, 8)):
            method, path, query = _page(kind, user, rng)
            requests.append(TraceRequest(round(at, 3), method, path, query))
            if kind == "checkout":
                break
            kind = rng.choices([k for _, k in _STEPS], weights=[w for w, _ in _STEPS])[0]
            at += rng.expovariate(1.0 / think_s)
            if at >= duration_s:
                break
    requests.sort(key=lambda r: r.at)
    return requests


def write_shop_trace(path: Path = SHOP_TRACE, **settings: float) -> tuple[Path, int]:
    requests = shop_trace(**settings)  # type: ignore[arg-type]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(to_csv(requests))
    return path, len(requests)
