"""Open-model pacing, as wrk2 does it: each user owns a fixed schedule of intended send times.
A trace replay paces the same way, from the trace's recorded times (`ReplaySchedule`).

The swarm-wide arrival rate is split evenly over the users. A user that falls behind its
schedule sends at once and the latency still counts from the intended time, so queueing in
the server shows in the percentiles instead of slowing the load down (coordinated omission).
"""

from __future__ import annotations

import bisect
import itertools
import random
import time
import weakref

_schedules: weakref.WeakSet[Schedule | ReplaySchedule] = weakref.WeakSet()


def backlog(now: float | None = None) -> int:
    """Sends that were due by `now` but never went out, because their user was still waiting:
    an open-model run that leaves a backlog did not hold its rate."""
    now = time.monotonic() if now is None else now
    return sum(schedule.behind(now) for schedule in list(_schedules))


class Schedule:
    def __init__(self, rate_per_user: float, rng: random.Random | None = None) -> None:
        if rate_per_user <= 0:
            raise ValueError("rate_per_user must be positive")
        self.interval = 1.0 / rate_per_user
        # a random phase spreads users over one interval instead of firing them together
        phase = (rng or random).random() * self.interval
        self.start = time.monotonic() + phase
        self.sent = 0
        _schedules.add(self)

    def behind(self, now: float) -> int:
        due = int((now - self.start) / self.interval) + 1 if now >= self.start else 0
        return max(due - self.sent, 0)

    def next_intended(self) -> float:
        intended = self.start + self.sent * self.interval
        self.sent += 1
        return intended


class ReplaySchedule:
    """A recorded trace's send times, for one Locust worker's share of it.

    `offsets` are the share's seconds into the trace; `span` is one pass of the whole trace
    (the same on every worker, so their loops stay in step). Time runs `speed` times faster
    than recorded. Past the end the trace starts over, one span later. As with `Schedule`,
    a send that is late (every user busy) goes out at once and its latency counts from the
    intended time; sends still due when the test ends are the backlog.
    """

    def __init__(
        self, offsets: list[float], span: float, speed: float = 1.0, start: float | None = None
    ) -> None:
        if not offsets:
            raise ValueError("a replay needs at least one request")
        if speed <= 0 or span <= 0:
            raise ValueError("speed and span must be positive")
        if any(b < a for a, b in itertools.pairwise(offsets)) or offsets[-1] >= span:
            raise ValueError("offsets must be sorted and inside one span")
        self.offsets = offsets
        self.span = span
        self.speed = speed
        self.start = time.monotonic() if start is None else start
        self.sent = 0
        _schedules.add(self)

    def intended(self, index: int) -> float:
        lap, position = divmod(index, len(self.offsets))
        return self.start + (lap * self.span + self.offsets[position]) / self.speed

    def take(self) -> tuple[int, float]:
        """The next request to send: its position in the share and its intended send time."""
        index = self.sent
        self.sent += 1
        return index % len(self.offsets), self.intended(index)

    def due(self, now: float) -> int:
        if now < self.start:
            return 0
        elapsed = (now - self.start) * self.speed
        laps, into = divmod(elapsed, self.span)
        return int(laps) * len(self.offsets) + bisect.bisect_right(self.offsets, into)

    def behind(self, now: float) -> int:
        return max(self.due(now) - self.sent, 0)
