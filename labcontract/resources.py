"""The columns of a cell's `resources.csv`: one row per process and sample.

Every sampler (the process sampler on the host or a node, the container sampler of compose)
writes these columns in this order, and every reader (analysis, soak, the report's charts)
names a column through `Resource`, so a renamed column cannot leave a reader behind.
"""

from __future__ import annotations

from enum import StrEnum


class Resource(StrEnum):
    TIME = "time"  # wall clock, seconds since the epoch
    COMPONENT = "component"  # app, postgres, locust-master, locust-worker, machine
    PID = "pid"
    CPU_PERCENT = "cpu_percent"  # of one core
    RSS_BYTES = "rss_bytes"
    USS_BYTES = "uss_bytes"  # empty where smaps cannot be read, or USS sampling is off


RESOURCE_COLUMNS: tuple[str, ...] = tuple(column.value for column in Resource)
