"""Percentiles from HDR histograms, and merging them."""

from __future__ import annotations

from collections.abc import Iterable

from hdrh.histogram import HdrHistogram

from loadlab.core.results import Latency
from loadtests.histogram import new_histogram as empty


def decode(encoded: str) -> HdrHistogram:
    histogram = empty()
    if encoded:
        histogram.add(HdrHistogram.decode(encoded))
    return histogram


def merge(histograms: Iterable[HdrHistogram]) -> HdrHistogram:
    merged = empty()
    for histogram in histograms:
        merged.add(histogram)
    return merged


def summarize(histogram: HdrHistogram) -> Latency:
    if histogram.get_total_count() == 0:
        return Latency()

    def ms(percentile: float) -> float:
        return round(histogram.get_value_at_percentile(percentile) / 1000.0, 3)

    return Latency(
        count=int(histogram.get_total_count()),
        mean=round(histogram.get_mean_value() / 1000.0, 3),
        p50=ms(50),
        p90=ms(90),
        p95=ms(95),
        p99=ms(99),
        p999=ms(99.9),
        max=round(histogram.get_max_value() / 1000.0, 3),
    )
