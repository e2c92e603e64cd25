"""TechEmpower updates: read five rows, write five new values in one transaction."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="updates",
    description="GET /updates?queries=5: five reads and a transactional write of five rows",
    regime="db",
    requests=[Request("/updates?queries=5", 1, get("/updates?queries=5"))],
)
