"""Replay a request log at its recorded pace (`trace-replay`) or N times faster
(`trace-replay-N`, N may be a fraction: `trace-replay-0.5` is half speed). The load level's
users are the concurrency the replay may use; think time and arrival rate do not apply."""

from loadtests.replay import Replay
from loadtests.workloads.base import Workload, number

PARAMETER = "speed factor over the recorded pace (0.01-1000)"


def build(raw: str | float, name: str | None = None) -> Workload:
    speed = float(number(str(raw), "trace-replay", 0.01, 1000, integer=False))
    return Workload(
        name=name or f"trace-replay-{raw}",
        description=(
            f"the request log in LOADLAB_TRACE (default: the generated shop trace) at "
            f"{speed:g}x its recorded pace, split over the Locust workers"
        ),
        regime="db",
        requests=[],
        replay=Replay(speed=speed),
    )


WORKLOAD = build(1, name="trace-replay")
