"""Open-model pacing, as wrk2 does it: each user owns a fixed schedule of intended send times.

The swarm-wide arrival rate is split evenly over the users. A user that falls behind its
schedule sends at once and the latency still counts from the intended time, so queueing in
the server shows in the percentiles instead of slowing the load down (coordinated omission).
"""

from __future__ import annotations

import random
import time
import weakref

_schedules: weakref.WeakSet[Schedule] = weakref.WeakSet()


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
