"""TechEmpower updates: read N rows, write N new values in one transaction. `updates` does
5; `updates-N` does N."""

from loadtests.workloads.base import Request, Workload, get, number

PARAMETER = "rows read and updated per request (1-500)"


def build(raw: str | int, name: str | None = None) -> Workload:
    count = int(number(str(raw), "updates", 1, 500))
    path = f"/updates?queries={count}"
    return Workload(
        name=name or f"updates-{count}",
        description=f"GET {path}: {count} reads and a transactional write of {count} rows",
        regime="db",
        requests=[Request(path, 1, get(path))],
    )


WORKLOAD = build(5, name="updates")
