"""TechEmpower fortunes: read every fortune, add one, sort, and render an escaped HTML page."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="fortunes",
    description="GET /fortunes: 12 rows, an in-memory sort and a server-side HTML template",
    regime="db",
    requests=[Request("/fortunes", 1, get("/fortunes"))],
)
