"""A query that holds its pooled connection: `SELECT pg_sleep(0.05)` inside Postgres.
`pg-sleep` waits 50 ms (Bilouro's test); `pg-sleep-N` waits N ms."""

from loadtests.workloads.base import Workload, number, single_get

PARAMETER = "milliseconds each query sleeps in Postgres (0-10000)"


def build(raw: str | int, name: str | None = None) -> Workload:
    ms = int(number(str(raw), "pg-sleep", 0, 10_000))
    path = f"/pgsleep?ms={ms}"
    return single_get(
        name or f"pg-sleep-{ms}",
        path,
        f"GET {path}: SELECT pg_sleep({ms / 1000:g}) holding a pooled connection",
        "db",
        "/pgsleep",
    )


WORKLOAD = build(50, name="pg-sleep")
