"""TechEmpower single query: one random row of the 10,000-row `world` table."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="db",
    description="GET /db: one random world row by primary key (TechEmpower test 2)",
    regime="db",
    requests=[Request("/db", 1, get("/db"))],
)
