"""The master ends the test itself after LOADLAB_DURATION_S, so every worker's final
histogram arrives (Locust's own `-t` path gives workers only half a second to report)."""

from __future__ import annotations

import logging
from typing import Any

import gevent
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner

from labcontract.env import SwarmEnv

logger = logging.getLogger(__name__)


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    settings = SwarmEnv.from_env()
    runner = environment.runner
    if not isinstance(runner, MasterRunner) or settings.duration_s <= 0:
        return

    def _finish() -> None:
        logger.info("loadlab: %.0fs elapsed, stopping the swarm", settings.duration_s)
        runner.stop()
        runner.quit()

    gevent.spawn_later(settings.duration_s, _finish)
