"""The workers' cheap recording (loadtests/tally.py, free of Locust and so of gevent)
counts per bucket, and builds the very histogram that HdrHistogram.record_value of every
value would have: what is measured does not change."""

from __future__ import annotations

import random

from loadtests import tally as hdr
from loadtests.histogram import HIGHEST_US, LOWEST_US, new_histogram


def test_every_bucket_index_matches_hdrh() -> None:
    reference = new_histogram()
    for index in range(hdr.COUNTS_LEN):
        value = reference.get_value_from_index(index)
        if value <= HIGHEST_US:
            assert hdr.bucket_index(value) == index
            assert reference._counts_index_for(value) == index


def test_a_tally_encodes_exactly_as_record_value_would() -> None:
    rng = random.Random(7)
    values = [int(rng.lognormvariate(8.5, 1.5)) for _ in range(50_000)]
    values += [-5, 0, LOWEST_US, 2047, 2048, 4097, HIGHEST_US, HIGHEST_US + 1, 10**12]
    reference, tally = new_histogram(), hdr.Tally()
    for value in values:
        reference.record_value(min(max(value, LOWEST_US), HIGHEST_US))
        tally.add(value)
    built = tally.histogram()
    assert built.encode() == reference.encode()
    assert built.get_total_count() == reference.get_total_count() == len(values)
    for percentile in (50, 90, 99, 99.9, 100):
        assert built.get_value_at_percentile(percentile) == reference.get_value_at_percentile(
            percentile
        )
    assert built.get_min_value() == reference.get_min_value()
    assert built.get_max_value() == reference.get_max_value()


def test_the_recorder_counts_by_name_failures_and_windows() -> None:
    recorder = hdr.Recorder(window_s=10.0)
    recorder.measure_from = 100.0
    recorder.record("/db", 0.004, 99.0, None)  # warm-up: not counted
    recorder.record("/db", 0.004, 101.0, None)
    recorder.record("/db", 0.006, 115.0, None)
    recorder.record("/json", 0.001, 116.0, "ConnectionError()")
    assert recorder.requests == 3 and recorder.errors == 1
    payload = recorder.drain(final=True)
    assert payload["requests"] == 3 and payload["errors"] == 1
    assert payload["by_name"] == {"/db": [2, 0], "/json": [1, 1]}
    assert payload["failures"] == {"ConnectionError()": 1}
    assert set(payload["windows"]) == {"0", "1"}
    assert payload["windows"]["1"]["requests"] == 2 and payload["windows"]["1"]["errors"] == 1
    assert payload["backlog"] == 0 and recorder.drain(final=True, backlog=3)["backlog"] == 3
    assert recorder.requests == 0 and recorder.by_name == {} and recorder.windows == {}


def test_no_windows_unless_asked() -> None:
    recorder = hdr.Recorder(window_s=0.0)
    recorder.measure_from = 0.0
    recorder.record("/db", 0.004, 5.0, None)
    assert recorder.windows == {} and recorder.drain()["windows"] == {}
