"""The one histogram format the workers, the master and the orchestrator share.

Kept free of Locust imports: importing Locust monkey-patches the process with gevent, which
the orchestrator must not suffer.
"""

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 120_000_000  # two minutes: longer waits are recorded as the maximum
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
