"""TechEmpower multiple queries: N separate single-row queries per request. `queries` sends
20 (TechEmpower's headline figure); `queries-N` sends N."""

from loadtests.workloads.base import Workload, number, single_get

PARAMETER = "single-row queries per request (1-500)"


def build(raw: str | int, name: str | None = None) -> Workload:
    count = int(number(str(raw), "queries", 1, 500))
    path = f"/queries?queries={count}"
    return single_get(
        name or f"queries-{count}",
        path,
        f"GET {path}: {count} sequential single-row queries",
        "db",
    )


WORKLOAD = build(20, name="queries")
