"""A shop's traffic: browsing, search, order history and checkout writes (POST /orders, one
transaction each). Think time comes from the load level (`think_time_ms`)."""

from __future__ import annotations

from typing import Any

from loadtests.workloads.base import Client, Draw, Request, Workload, get
from loadtests.workloads.db_read import lookup, orders, user


def checkout(client: Client, draw: Draw, context: dict[str, Any]) -> None:
    client.post("/orders", json=draw.order(), name="/orders", context=context)


WORKLOAD = Workload(
    name="shop",
    description=(
        "30% a user's profile, 20% top products (aggregate), 20% search by name, "
        "20% order history (join + limit), 10% checkout: POST /orders, one transaction"
    ),
    regime="db",
    requests=[
        Request("/users/[id]", 30, user),
        Request("/products/top", 20, get("/products/top?limit=10", name="/products/top")),
        Request("/lookup", 20, lookup),
        Request("/users/[id]/orders", 20, orders),
        Request("/orders", 10, checkout),
    ],
)
