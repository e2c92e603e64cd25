"""A realistic read mix over the seeded shop: users, their recent orders, name lookups."""

from __future__ import annotations

from typing import Any

from loadtests.workloads.base import Client, Draw, Request, Workload, get


def user(client: Client, draw: Draw, context: dict[str, Any]) -> None:
    client.get(f"/users/{draw.user_id()}", name="/users/[id]", context=context)


def orders(client: Client, draw: Draw, context: dict[str, Any]) -> None:
    client.get(
        f"/users/{draw.user_id()}/orders?limit=10", name="/users/[id]/orders", context=context
    )


def lookup(client: Client, draw: Draw, context: dict[str, Any]) -> None:
    client.get("/lookup", params={"name": draw.name()}, name="/lookup", context=context)


WORKLOAD = Workload(
    name="db-read",
    description=(
        "45% user by id, 35% a user's 10 most recent orders (join + limit), "
        "10% indexed name lookup (a miss), 10% TechEmpower single-row query"
    ),
    regime="db",
    requests=[
        Request("/users/[id]", 45, user),
        Request("/users/[id]/orders", 35, orders),
        Request("/lookup", 10, lookup),
        Request("/db", 10, get("/db")),
    ],
)
