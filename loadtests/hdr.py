"""Exact latency recording: an HDR histogram per worker, shipped to the master and merged.

Plugs into Locust through its events only, so any locustfile that imports this module gets
the same recording:
- every worker records each request into its own histogram (microseconds; counted per
  bucket by loadtests/tally.py, a few integer operations a request). In the open
  model the latency runs from the request's *intended* send time (the `intended` entry of
  the request context), so a stalled server cannot hide its queue;
- the deltas travel to the master in `report_to_master` (every few seconds), and a final
  delta in a custom message when the worker stops, before Locust's `client_stopped`;
- the master merges them and writes `measurement.json` when the test stops;
- with LOADLAB_WINDOW_S > 0 each request also lands in the histogram of the window (of the
  measured time, by completion) it completed in, so a soak run's latency drift is exact per
  window, not Locust's rounded ten-second rolling percentiles.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram
from locust import events
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from labcontract.env import SwarmEnv
from labcontract.measurement import MeasuredWindow, Measurement
from loadtests.histogram import new_histogram
from loadtests.pacing import backlog
from loadtests.tally import Recorder

FINAL_MESSAGE = "loadlab_final"
REPORT_KEY = "loadlab"


@dataclass
class Window:
    """One window's share of the merged reports: its histogram and counts (the master's)."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    errors: int = 0

    def add(self, payload: dict[str, Any]) -> None:
        if payload.get("hdr"):
            self.histogram.add(HdrHistogram.decode(payload["hdr"]))
        self.requests += int(payload.get("requests", 0))
        self.errors += int(payload.get("errors", 0))

    def encode(self) -> dict[str, Any]:
        hdr = self.histogram.encode().decode("ascii") if self.histogram.get_total_count() else ""
        return {"hdr": hdr, "requests": self.requests, "errors": self.errors}


@dataclass
class Merged:
    """The master's view: every worker's deltas added together."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    errors: int = 0
    by_name: dict[str, list[int]] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    finals: set[str] = field(default_factory=set)
    workers_seen: set[str] = field(default_factory=set)
    backlog: int = 0
    windows: dict[int, Window] = field(default_factory=dict)

    def add(self, worker_id: str, payload: dict[str, Any]) -> None:
        self.workers_seen.add(worker_id)
        if payload.get("hdr"):
            self.histogram.add(HdrHistogram.decode(payload["hdr"]))
        self.requests += int(payload.get("requests", 0))
        self.errors += int(payload.get("errors", 0))
        for name, (count, failed) in payload.get("by_name", {}).items():
            total = self.by_name.setdefault(name, [0, 0])
            total[0] += count
            total[1] += failed
        for message, count in payload.get("failures", {}).items():
            self.failures[message] = self.failures.get(message, 0) + count
        self.backlog += int(payload.get("backlog", 0))
        for index, window in payload.get("windows", {}).items():
            self.windows.setdefault(int(index), Window()).add(window)
        if payload.get("final"):
            self.finals.add(worker_id)


_recorder = Recorder()
_merged = Merged()
_monotonic = time.monotonic
_timing: dict[str, float] = {}


def warmup_seconds() -> float:
    return SwarmEnv.from_env().warmup_s


@events.test_start.add_listener
def _on_test_start(environment: Environment, **_kw: Any) -> None:
    now = time.monotonic()
    _recorder.measure_from = now + warmup_seconds()
    _timing["start_wall"] = time.time()
    _timing["measure_from_wall"] = _timing["start_wall"] + warmup_seconds()


@events.request.add_listener
def _on_request(
    name: str,
    response_time: float,
    exception: BaseException | None,
    context: dict[str, Any] | None = None,
    **_kw: Any,
) -> None:
    now = _monotonic()
    intended = context.get("intended") if context else None
    latency = now - float(intended) if intended is not None else response_time / 1000.0
    _recorder.record(name, latency, now, None if exception is None else repr(exception))


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    data[REPORT_KEY] = _recorder.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any], **_kw: Any) -> None:
    if REPORT_KEY in data:
        _merged.add(client_id, data[REPORT_KEY])


@events.init.add_listener
def _on_init(environment: Environment, **_kw: Any) -> None:
    if isinstance(environment.runner, MasterRunner):

        def _on_final(environment: Environment, msg: Any, **_kw: Any) -> None:
            _merged.add(msg.node_id, msg.data)

        environment.runner.register_message(FINAL_MESSAGE, _on_final)


@events.test_stopping.add_listener
def _on_test_stopping(environment: Environment, **_kw: Any) -> None:
    # the window closes when the stop is decided, not when the workers have wound down
    if isinstance(environment.runner, MasterRunner):
        _timing.setdefault("stop_wall", time.time())
    else:
        _timing["backlog"] = backlog()  # while the users, and so their schedules, still exist


@events.test_stop.add_listener
def _on_test_stop(environment: Environment, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        final = _recorder.drain(final=True, backlog=int(_timing.get("backlog", 0)))
        runner.send_message(FINAL_MESSAGE, final)
    elif isinstance(runner, MasterRunner):
        _timing.setdefault("stop_wall", time.time())
        write_measurement(environment)


@events.quitting.add_listener
def _on_quitting(environment: Environment, **_kw: Any) -> None:
    # a plain `locust -t` run quits without our timed stop: late finals still count here
    if isinstance(environment.runner, MasterRunner):
        write_measurement(environment)


def summary(environment: Environment) -> Measurement:
    settings = SwarmEnv.from_env()
    stop = _timing.get("stop_wall", time.time())
    measure_from = _timing.get("measure_from_wall", stop)
    hist = _merged.histogram
    expected = getattr(environment.runner, "worker_count", 0) or len(_merged.workers_seen)
    return Measurement(
        workload=settings.workload,
        arrival_rate=settings.arrival_rate,
        users=getattr(environment.parsed_options, "num_users", None),
        start_wall=_timing.get("start_wall"),
        measure_from_wall=measure_from,
        stop_wall=stop,
        measured_s=max(stop - measure_from, 0.0),
        requests=_merged.requests,
        errors=_merged.errors,
        by_name=_merged.by_name,
        failures=_merged.failures,
        workers_reported=len(_merged.workers_seen),
        workers_final=len(_merged.finals),
        workers_expected=expected,
        # how the orchestrator sized the swarm (loadlab.deployments.swarm.SwarmSizing), when it says
        swarm=settings.swarm,
        backlog=_merged.backlog,
        hdr=hist.encode().decode("ascii") if hist.get_total_count() else "",
        window_s=settings.window_s,
        windows=[
            MeasuredWindow(index=index, start_s=index * settings.window_s, **window.encode())
            for index, window in sorted(_merged.windows.items())
        ],
    )


def write_measurement(environment: Environment) -> None:
    target = SwarmEnv.from_env().measurement_out
    if not target:
        return
    directory = os.path.dirname(os.path.abspath(target))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".measurement.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would keep results from whoever they are shared with
        with os.fdopen(fd, "w") as handle:
            handle.write(summary(environment).to_json())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
