"""Replaying a trace from Locust: each worker takes its share of the trace (every k-th
request, k = the number of workers, starting at its own index) and its users send those
requests at their recorded times, scaled by a speed factor, looping past the end.

The trace is `LOADLAB_TRACE` when set (any format `loadtests.trace` reads), else the lab's
generated shop trace. Access logs hold no request bodies: a replayed POST /orders sends a
fresh valid order, and ids above the seeded range are folded into it, so a trace recorded
against a large data set replays against a small one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from labcontract.env import SwarmEnv
from loadtests.pacing import ReplaySchedule
from loadtests.trace import Trace, TraceRequest, read_trace, share

SHOP_TRACE = Path(__file__).resolve().parent / "data" / "shop-trace.csv"
_USER_PATH = re.compile(r"^/users/(\d+)(?=/|$)")
_NUMBER_SEGMENT = re.compile(r"/\d+(?=/|$)")


def trace_path() -> Path:
    raw = SwarmEnv.from_env().trace
    return Path(raw) if raw else SHOP_TRACE


@cache
def _load(path: Path) -> Trace:
    return read_trace(path)


def fold_user_id(target: str, users_seeded: int) -> str:
    """/users/1234567 against 2,000 seeded users becomes /users/1 + (1234566 mod 2000)."""
    match = _USER_PATH.match(target)
    if not match or users_seeded < 1:
        return target
    uid = int(match[1])
    if 1 <= uid <= users_seeded:
        return target
    folded = (uid - 1) % users_seeded + 1
    return f"/users/{folded}{target[match.end() :]}"


def stats_name(path: str) -> str:
    """Locust's row for a request: numeric path segments become [id]."""
    return _NUMBER_SEGMENT.sub("/[id]", path)


@dataclass(frozen=True)
class Replay:
    """What the trace-replay workload replays: which trace, how much faster than recorded."""

    speed: float = 1.0

    def trace(self) -> Trace:
        return _load(trace_path())


class Replayer:
    """One worker's replay, shared by all its users: whoever is free sends the next request."""

    def __init__(
        self, trace: Trace, index: int, count: int, speed: float, start: float | None = None
    ) -> None:
        self.requests = share(trace.requests, index, count)
        self.schedule = (
            ReplaySchedule([r.at for r in self.requests], trace.span, speed, start)
            if self.requests
            else None
        )

    def next(self) -> tuple[TraceRequest, float] | None:
        if self.schedule is None:
            return None  # fewer requests in the trace than workers: this one stays idle
        position, intended = self.schedule.take()
        return self.requests[position], intended


def worker_slot(environment: Any) -> tuple[int, int]:
    """(this worker's index, the number of workers); (0, 1) outside a distributed run.

    The master hands every worker its index when it connects and forwards its
    --expect-workers setting with the first spawn message, before any user starts."""
    from locust.runners import WorkerRunner

    runner = environment.runner
    if not isinstance(runner, WorkerRunner):
        return 0, 1
    count = max(int(getattr(environment.parsed_options, "expect_workers", 1) or 1), 1)
    return max(int(runner.worker_index), 0) % count, count


_replayers: dict[float, Replayer] = {}


def replayer_for(replay: Replay, environment: Any) -> Replayer:
    """The process's replayer, made when its first user starts (the replay's time zero)."""
    if replay.speed not in _replayers:
        index, count = worker_slot(environment)
        _replayers[replay.speed] = Replayer(replay.trace(), index, count, replay.speed)
    return _replayers[replay.speed]


def send(client: Any, request: TraceRequest, users_seeded: int, draw: Any, context: dict) -> None:
    name = stats_name(request.path)
    if request.method == "POST" and request.path == "/orders":
        client.post("/orders", json=draw.order(), name=name, context=context)
        return
    target = fold_user_id(request.target, users_seeded)
    client.request(request.method, target, name=name, context=context)
