"""The lab's locustfile: one FastHttpUser whose requests come from the selected workload.

Run from the repository root, e.g. `LOADLAB_WORKLOAD=db-read locust -f loadtests/locustfile.py`.
Importing `loadtests.hdr` is all another locustfile needs for the lab's exact latencies.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from labcontract.env import SwarmEnv
from loadtests import hdr, timed_stop  # noqa: F401  (registers the event listeners)
from loadtests.pacing import Schedule
from loadtests.replay import replayer_for
from loadtests.replay import send as send_replayed
from loadtests.workloads import get_workload
from loadtests.workloads.base import Draw

SETTINGS = SwarmEnv.from_env()
WORKLOAD = get_workload(SETTINGS.workload)


def swarm_users(user: FastHttpUser) -> int:
    if SETTINGS.swarm_users is not None:
        return SETTINGS.swarm_users
    return max(int(getattr(user.environment.parsed_options, "num_users", 1) or 1), 1)


# a schedule (open model or a trace's recorded pace) decides when to send: no think time
PACED = SETTINGS.open_model or WORKLOAD.replay is not None


class LabUser(FastHttpUser):
    wait_time = constant(0 if PACED else SETTINGS.think_ms / 1000.0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.rng = random.Random()
        self.draw = Draw(self.rng, SETTINGS.users_seeded)
        self.replayer = replayer_for(WORKLOAD.replay, self.environment) if WORKLOAD.replay else None
        self.schedule = (
            Schedule(SETTINGS.arrival_rate / swarm_users(self), self.rng)
            if SETTINGS.open_model and self.replayer is None
            else None
        )

    @task
    def send(self) -> None:
        context: dict[str, Any] = {}
        if self.replayer is not None:
            self.replay(context)
            return
        if self.schedule is not None:
            intended = self.schedule.next_intended()
            delay = intended - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            context["intended"] = intended
        WORKLOAD.pick(self.rng).send(self.client, self.draw, context)

    def replay(self, context: dict[str, Any]) -> None:
        assert self.replayer is not None
        upcoming = self.replayer.next()
        if upcoming is None:
            gevent.sleep(1.0)
            return
        request, intended = upcoming
        delay = intended - time.monotonic()
        if delay > 0:
            gevent.sleep(delay)
        context["intended"] = intended
        send_replayed(self.client, request, SETTINGS.users_seeded, self.draw, context)
