"""What a Locust worker records per request, kept cheap: it runs once per request.

Free of Locust imports (importing Locust monkey-patches the process with gevent), so the
orchestrator and the unit tests can use it; loadtests/hdr.py plugs it into Locust's events.
"""

from __future__ import annotations

from typing import Any

from hdrh.histogram import HdrHistogram

from labcontract.env import SwarmEnv
from loadtests.histogram import HIGHEST_US, LOWEST_US, new_histogram


def window_seconds() -> float:
    return SwarmEnv.from_env().window_s


# The histogram's bucket layout (hdrh's own arithmetic, from one instance of the format):
# a worker counts requests per bucket with a few integer operations, and builds the
# HdrHistogram only when it reports, every few seconds. `record_value` costs microseconds a
# request in pure Python; the counts, and so the encoded histogram, are the same.
_LAYOUT = new_histogram()
_UNIT = _LAYOUT.unit_magnitude
_HALF_MAGNITUDE = _LAYOUT.sub_bucket_half_count_magnitude
_HALF_COUNT = _LAYOUT.sub_bucket_half_count
_MASK = _LAYOUT.sub_bucket_mask
_SHIFT = _UNIT + _HALF_MAGNITUDE + 1
COUNTS_LEN = _LAYOUT.counts_len


def bucket_index(micros: int) -> int:
    """The counts index HdrHistogram.record_value(micros) increments (within its range)."""
    bucket = (micros | _MASK).bit_length() - _SHIFT
    return ((bucket + 1) << _HALF_MAGNITUDE) + (micros >> (bucket + _UNIT)) - _HALF_COUNT


class Tally:
    """Requests, errors and latency counts per histogram bucket, since the last report."""

    __slots__ = ("counts", "errors", "requests")

    def __init__(self) -> None:
        self.counts = [0] * COUNTS_LEN
        self.requests = 0
        self.errors = 0

    def add(self, micros: int) -> None:
        if micros < LOWEST_US:
            micros = LOWEST_US
        elif micros > HIGHEST_US:
            micros = HIGHEST_US
        bucket = (micros | _MASK).bit_length() - _SHIFT
        self.counts[
            ((bucket + 1) << _HALF_MAGNITUDE) + (micros >> (bucket + _UNIT)) - _HALF_COUNT
        ] += 1

    def histogram(self) -> HdrHistogram:
        """The histogram recording each value with `record_value` would have built (as the
        master decodes it: hdrh's decoder fills the counts and sets min/max/total so too)."""
        histogram = new_histogram()
        counts, target = self.counts, histogram.counts
        used = list(filter(counts.__getitem__, range(COUNTS_LEN)))
        for index in used:
            target[index] = counts[index]
        if used:
            histogram.set_internal_tacking_values(used[0], used[-1], sum(counts))
        return histogram

    def encode(self) -> dict[str, Any]:
        histogram = self.histogram()
        hdr = histogram.encode().decode("ascii") if histogram.get_total_count() else ""
        return {"hdr": hdr, "requests": self.requests, "errors": self.errors}


class Recorder:
    """What one process has recorded since its last report. Runs once per request on every
    worker, so it allocates nothing per request: counts in place, a window's tally only
    when the window starts (and only with windows on)."""

    def __init__(self, window_s: float | None = None) -> None:
        self.measure_from = float("inf")  # time.monotonic(); +inf until the test starts
        self.window_s = window_seconds() if window_s is None else window_s
        self.tally = Tally()
        self.by_name: dict[str, list[int]] = {}
        self.failures: dict[str, int] = {}
        self.windows: dict[int, Tally] = {}

    @property
    def requests(self) -> int:
        return self.tally.requests

    @property
    def errors(self) -> int:
        return self.tally.errors

    def record(self, name: str, latency_s: float, completed: float, failed: str | None) -> None:
        # a request belongs to the window it completes in, as Locust's own stats reset does;
        # one sent late during warm-up still shows its whole wait when it lands in the window
        if completed < self.measure_from:
            return
        counts = self.by_name.get(name)
        if counts is None:
            counts = self.by_name[name] = [0, 0]
        counts[0] += 1
        tally = self.tally
        tally.requests += 1
        window = None
        if self.window_s > 0:
            index = int((completed - self.measure_from) // self.window_s)
            window = self.windows.get(index)
            if window is None:
                window = self.windows[index] = Tally()
            window.requests += 1
        if failed is not None:
            counts[1] += 1
            tally.errors += 1
            if window is not None:
                window.errors += 1
            key = failed[:200]
            self.failures[key] = self.failures.get(key, 0) + 1
            return
        micros = int(latency_s * 1_000_000)
        tally.add(micros)
        if window is not None:
            window.add(micros)

    def drain(self, final: bool = False, backlog: int = 0) -> dict[str, Any]:
        tally = self.tally
        payload = {
            **tally.encode(),
            "by_name": self.by_name,
            "failures": self.failures,
            "final": final,
            "backlog": backlog if final else 0,
            "windows": {str(index): w.encode() for index, w in self.windows.items()},
        }
        self.tally = Tally()
        self.by_name, self.failures, self.windows = {}, {}, {}
        return payload
