"""The lab's locustfile: one FastHttpUser whose requests come from the selected workload.

Run from the repository root, e.g. `LOADLAB_WORKLOAD=db-read locust -f loadtests/locustfile.py`.
Importing `loadtests.hdr` is all another locustfile needs for the lab's exact latencies.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, task

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from loadtests import hdr, timed_stop  # noqa: F401  (registers the event listeners)
from loadtests.pacing import Schedule
from loadtests.settings import LoadSettings
from loadtests.workloads import get_workload
from loadtests.workloads.base import Draw

SETTINGS = LoadSettings.from_env()
WORKLOAD = get_workload(SETTINGS.workload)


def swarm_users(user: FastHttpUser) -> int:
    if raw := os.environ.get("LOADLAB_SWARM_USERS", "").strip():
        return max(int(raw), 1)
    return max(int(getattr(user.environment.parsed_options, "num_users", 1) or 1), 1)


class LabUser(FastHttpUser):
    wait_time = constant(0 if SETTINGS.open_model else SETTINGS.think_ms / 1000.0)
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.rng = random.Random()
        self.draw = Draw(self.rng, SETTINGS.users_seeded)
        self.schedule = (
            Schedule(SETTINGS.arrival_rate / swarm_users(self), self.rng)
            if SETTINGS.open_model
            else None
        )

    @task
    def send(self) -> None:
        context: dict[str, Any] = {}
        if self.schedule is not None:
            intended = self.schedule.next_intended()
            delay = intended - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            context["intended"] = intended
        WORKLOAD.pick(self.rng).send(self.client, self.draw, context)
