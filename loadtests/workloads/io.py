"""Simulated upstream I/O: each request waits 50 ms (asyncio, gevent or a blocked thread)."""

from loadtests.workloads.base import Request, Workload, get

WORKLOAD = Workload(
    name="io",
    description="GET /io?ms=50: a 50 ms wait on a simulated upstream, no database",
    regime="io",
    requests=[Request("/io?ms=50", 1, get("/io?ms=50"))],
)
