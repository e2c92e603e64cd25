"""TechEmpower multiple queries: N separate single-row queries per request. `queries` sends
20 (TechEmpower's headline figure); `queries-N` sends N."""

from loadtests.workloads.base import Request, Workload, get, number

PARAMETER = "single-row queries per request (1-500)"


def build(raw: str | int, name: str | None = None) -> Workload:
    count = int(number(str(raw), "queries", 1, 500))
    path = f"/queries?queries={count}"
    return Workload(
        name=name or f"queries-{count}",
        description=f"GET {path}: {count} sequential single-row queries",
        regime="db",
        requests=[Request(path, 1, get(path))],
    )


WORKLOAD = build(20, name="queries")
