"""Framework only: serialise a small JSON object. The regime behind the "7x" claims."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="json",
    description="GET /json: no database, no I/O; measures the framework and server alone",
    regime="framework",
    requests=[Request("/json", 1, get("/json"))],
)
