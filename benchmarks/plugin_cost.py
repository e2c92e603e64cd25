"""Per-request CPU cost of the lab's own Locust plugins, measured in-process (no network).

    .venv/bin/python benchmarks/plugin_cost.py [--requests 200000] [--workload db]

Times what a Locust worker does per request on top of what a bare locustfile does:
- the lab's `request` listener (loadtests/hdr.py): exact HDR recording, counts by name;
- the same with soak windows on (LOADLAB_WINDOW_S);
- the lab task's own work besides the HTTP call (context, workload pick, send closure);
- the open model's pacing (loadtests/pacing.py's `Schedule.next_intended`).
Each figure is microseconds per request, the best of a few repetitions. A benchmark: it
prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from locust import events

from loadtests import hdr
from loadtests.pacing import Schedule
from loadtests.workloads import get_workload
from loadtests.workloads.base import Draw


class NullClient:
    """Stands in for FastHttpSession: the HTTP call itself is the same in a bare locustfile."""

    def get(self, path: str, **_kw: Any) -> None:
        return None

    def post(self, path: str, **_kw: Any) -> None:
        return None

    def request(self, method: str, path: str, **_kw: Any) -> None:
        return None


def best_us(func: Any, number: int, repeat: int = 7) -> float:
    # CPU time, not wall time: on a shared machine preemption would count as cost
    times = timeit.repeat(func, number=number, repeat=repeat, timer=time.process_time)
    return min(times) / number * 1e6


def fire_cost(number: int) -> float:
    """One `request` event as FastHttpSession fires it, through Locust's EventHook."""
    context: dict[str, Any] = {}

    def fire() -> None:
        events.request.fire(
            request_type="GET",
            name="/db",
            response_time=4.2,
            response_length=120,
            response=None,
            context=context,
            exception=None,
            start_time=0.0,
            url="http://127.0.0.1/db",
        )

    return best_us(fire, number)


def listener_cost(number: int, window_s: float) -> float:
    hdr._recorder = hdr.Recorder(window_s=window_s)  # the module's own recorder, fresh
    hdr._recorder.measure_from = time.monotonic() - 1.0
    with_listener = fire_cost(number)
    events.request.remove_listener(hdr._on_request)
    try:
        without = fire_cost(number)
    finally:
        events.request.add_listener(hdr._on_request)
    hdr._recorder.drain()
    return with_listener - without


def drain_cost(requests_per_drain: int = 15_000, repeat: int = 5) -> float:
    """The worker's report every 3 s (about 15,000 requests at 5,000 req/s): building and
    encoding its histogram, spread over the requests it covers."""
    rng = random.Random(1)
    latencies = [rng.lognormvariate(-4.6, 0.5) for _ in range(requests_per_drain)]
    now = time.monotonic()
    best = float("inf")
    for _ in range(repeat):
        recorder = hdr.Recorder(window_s=0.0)
        recorder.measure_from = 0.0
        for latency in latencies:
            recorder.record("/db", latency, now, None)
        started = time.process_time()
        recorder.drain()
        best = min(best, time.process_time() - started)
    return best / requests_per_drain * 1e6


def task_cost(workload_name: str, number: int) -> tuple[float, float]:
    """(lab task, bare task): the lab's `send` besides the HTTP call, and a bare GET."""
    workload = get_workload(workload_name)
    client, rng = NullClient(), random.Random()
    draw = Draw(rng, 1_000_000)

    def lab_task() -> None:
        context: dict[str, Any] = {}
        workload.pick(rng).send(client, draw, context)

    def bare_task() -> None:
        client.get("/db")

    return best_us(lab_task, number), best_us(bare_task, number)


def pacing_cost(number: int) -> float:
    schedule = Schedule(1_000_000.0, random.Random(1))
    return best_us(lambda: schedule.next_intended() - time.monotonic(), number)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000, help="per timing")
    parser.add_argument("--workload", default="db")
    args = parser.parse_args(argv)
    os.environ.setdefault("LOADLAB_WINDOW_S", "0")
    n = args.requests
    lab_task, bare_task = task_cost(args.workload, n)
    rows = [
        ("hdr request listener", listener_cost(n, 0.0)),
        ("hdr request listener, soak windows on", listener_cost(n, 60.0)),
        ("hdr report (drain) per request", drain_cost()),
        (f"lab task besides the HTTP call ({args.workload})", lab_task - bare_task),
        ("open-model pacing (next_intended)", pacing_cost(n)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, micros in rows:
        print(f"{name:<{width}}  {micros:6.2f} µs/request")
    closed = rows[0][1] + rows[2][1] + rows[3][1]
    print(f"{'closed model, all lab plugins':<{width}}  {closed:6.2f} µs/request")


if __name__ == "__main__":
    main()
