"""TechEmpower multiple queries: 20 separate single-row queries per request."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="queries",
    description="GET /queries?queries=20: twenty sequential single-row queries",
    regime="db",
    requests=[Request("/queries?queries=20", 1, get("/queries?queries=20"))],
)
