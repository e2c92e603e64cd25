"""The published MySQL benchmark's only query: an indexed lookup by a random name."""

from loadtests.workloads.base import Request, Workload
from loadtests.workloads.db_read import lookup

WORKLOAD = Workload(
    name="lookup",
    description="GET /lookup?name=<random 1-253 chars>: one indexed miss per request",
    regime="db",
    requests=[Request("/lookup", 1, lookup)],
)
