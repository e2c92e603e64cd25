"""TechEmpower updates: read N rows, write N new values in one transaction. `updates` does
5; `updates-N` does N."""

from loadtests.workloads.base import Workload, number, single_get

PARAMETER = "rows read and updated per request (1-500)"


def build(raw: str | int, name: str | None = None) -> Workload:
    count = int(number(str(raw), "updates", 1, 500))
    path = f"/updates?queries={count}"
    return single_get(
        name or f"updates-{count}",
        path,
        f"GET {path}: {count} reads and a transactional write of {count} rows",
        "db",
    )


WORKLOAD = build(5, name="updates")
