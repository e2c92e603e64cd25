import random

from loadlab.measurement import latency
from loadtests.histogram import new_histogram


def test_merging_worker_histograms_equals_one_histogram_of_all_samples() -> None:
    rng = random.Random(3)
    samples = [int(rng.lognormvariate(8, 1)) + 1 for _ in range(20_000)]
    single = new_histogram()
    workers = [new_histogram() for _ in range(4)]
    for index, value in enumerate(samples):
        single.record_value(value)
        workers[index % 4].record_value(value)
    # the workers ship their histograms encoded, as they do to the Locust master
    merged = latency.merge(latency.decode(w.encode().decode("ascii")) for w in workers)
    assert merged.get_total_count() == single.get_total_count() == len(samples)
    for percentile in (50, 90, 99, 99.9, 100):
        assert merged.get_value_at_percentile(percentile) == single.get_value_at_percentile(
            percentile
        )
    assert latency.summarize(merged) == latency.summarize(single)


def test_summary_is_in_milliseconds() -> None:
    histogram = new_histogram()
    for micros in (1_000, 2_000, 3_000, 100_000):
        histogram.record_value(micros)
    summary = latency.summarize(histogram)
    assert summary.count == 4
    assert 0.99 <= summary.p50 <= 2.01
    assert 99 <= summary.max <= 101


def test_empty_histogram_summarises_to_zeros() -> None:
    assert latency.summarize(latency.decode("")).count == 0
