"""Simulated upstream I/O: each request waits on a simulated upstream (asyncio, gevent or a
blocked thread), no database. `io` waits 50 ms; `io-N` waits N ms."""

from loadtests.workloads.base import Workload, number, single_get

PARAMETER = "milliseconds each request waits (0-10000)"


def build(raw: str | int, name: str | None = None) -> Workload:
    ms = int(number(str(raw), "io", 0, 10_000))
    path = f"/io?ms={ms}"
    return single_get(
        name or f"io-{ms}",
        path,
        f"GET {path}: a {ms} ms wait on a simulated upstream, no database",
        "io",
    )


WORKLOAD = build(50, name="io")
