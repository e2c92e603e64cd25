"""Request logs as traces: parse gunicorn's and nginx's access logs and the lab's own CSV and
JSONL, and split a trace over Locust workers. Pure logic: no Locust, no I/O beyond reading.

A trace is a list of `TraceRequest`s ordered by `at`, seconds since the first request.
Access logs record whole seconds; the requests of one second are spread evenly over it so
a replay does not send them as one burst.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

TraceFormat = Literal["auto", "csv", "jsonl", "gunicorn", "nginx"]
FORMATS: tuple[TraceFormat, ...] = ("auto", "csv", "jsonl", "gunicorn", "nginx")
CSV_FIELDS = ("timestamp", "method", "path", "query")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# gunicorn's default access_log_format is '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s
# "%(f)s" "%(a)s"', which is nginx's `combined` format field for field; nginx escapes a
# quote inside a field as \x22, gunicorn leaves the referer and agent out of older configs.
_ACCESS = re.compile(
    r'^\S+ \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) \S+'
    r'(?: "(?:[^"\\]|\\.)*" "(?:[^"\\]|\\.)*")?\s*$'
)
_ACCESS_TIME = "%d/%b/%Y:%H:%M:%S %z"


class TraceError(ValueError):
    """A trace that cannot be replayed: unreadable, empty, or in no known format."""


@dataclass(frozen=True)
class TraceRequest:
    at: float  # seconds since the trace's first request
    method: str
    path: str
    query: str = ""

    @property
    def target(self) -> str:
        return f"{self.path}?{self.query}" if self.query else self.path


@dataclass(frozen=True)
class Trace:
    requests: tuple[TraceRequest, ...]
    skipped: int = 0  # lines that were not requests (blank, malformed, a header)

    @property
    def span(self) -> float:
        """Seconds one pass of the trace takes: to its last request plus one mean gap, so a
        trace replayed in a loop keeps its pace across the seam."""
        if not self.requests:
            return 0.0
        last = self.requests[-1].at
        count = len(self.requests)
        return last + (last / (count - 1) if count > 1 and last > 0 else 1.0)

    @property
    def rate(self) -> float:
        return len(self.requests) / self.span if self.requests else 0.0


def _split_target(target: str) -> tuple[str, str]:
    # an absolute-form target ("GET http://host/path HTTP/1.1") keeps only path and query
    parts = urlsplit(target)
    path = parts.path or "/"
    if not path.startswith("/"):
        path = "/" + path
    return path, parts.query


def parse_access_line(line: str) -> tuple[float, TraceRequest] | None:
    """One gunicorn or nginx combined line -> (unix time, request), or None if it is not one."""
    match = _ACCESS.match(line.strip())
    if not match:
        return None
    words = match["request"].split()
    if len(words) < 2 or words[0] not in METHODS:
        return None  # "-" or garbage a scanner sent, not a request to replay
    try:
        when = datetime.strptime(match["time"], _ACCESS_TIME).timestamp()
    except ValueError:
        return None
    path, query = _split_target(words[1])
    return when, TraceRequest(0.0, words[0], path, query)


def _spread_seconds(stamped: list[tuple[float, TraceRequest]]) -> list[tuple[float, TraceRequest]]:
    """Requests logged in the same whole second, spread evenly over that second."""
    out: list[tuple[float, TraceRequest]] = []
    index = 0
    while index < len(stamped):
        end = index
        while end < len(stamped) and stamped[end][0] == stamped[index][0]:
            end += 1
        group = end - index
        out += [(when + k / group, req) for k, (when, req) in enumerate(stamped[index:end])]
        index = end
    return out


def _from_access(lines: Iterable[str]) -> tuple[list[tuple[float, TraceRequest]], int]:
    stamped, skipped = [], 0
    for line in lines:
        parsed = parse_access_line(line) if line.strip() else None
        if parsed is None:
            skipped += bool(line.strip())
            continue
        stamped.append(parsed)
    stamped.sort(key=lambda item: item[0])  # stable: log order within a second is kept
    return _spread_seconds(stamped), skipped


def _request(
    when: object, method: object, path: object, query: object
) -> tuple[float, TraceRequest]:
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ValueError(f"method {method!r}")
    if not isinstance(path, str) or not path:
        raise ValueError(f"path {path!r}")
    if isinstance(when, bool) or not isinstance(when, int | float | str):
        raise ValueError(f"timestamp {when!r}")
    split_path, split_query = _split_target(path)
    query = str(query or "") or split_query
    return float(when), TraceRequest(0.0, method.upper(), split_path, query.lstrip("?"))


def _from_csv(text: str) -> tuple[list[tuple[float, TraceRequest]], int]:
    reader = csv.DictReader(io.StringIO(text))
    missing = set(CSV_FIELDS[:3]) - set(reader.fieldnames or [])
    if missing:
        raise TraceError(f"a CSV trace needs the columns {', '.join(CSV_FIELDS)}")
    stamped, skipped = [], 0
    for row in reader:
        try:
            stamped.append(
                _request(row.get("timestamp"), row.get("method"), row.get("path"), row.get("query"))
            )
        except ValueError:
            skipped += 1
    return stamped, skipped


def _from_jsonl(lines: Iterable[str]) -> tuple[list[tuple[float, TraceRequest]], int]:
    stamped, skipped = [], 0
    for line in lines:
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            if not isinstance(item, dict):
                raise ValueError("not an object")
            stamped.append(
                _request(
                    item.get("timestamp"), item.get("method"), item.get("path"), item.get("query")
                )
            )
        except ValueError:
            skipped += 1
    return stamped, skipped


def detect_format(text: str, name: str = "") -> TraceFormat:
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    if first.replace(" ", "").lower().startswith("timestamp,"):
        return "csv"
    if _ACCESS.match(first.strip()):
        return "nginx"  # gunicorn's default format parses the same
    raise TraceError(
        "not a trace in a known format (CSV or JSONL with timestamp,method,path,query; "
        "gunicorn's default or nginx's combined access log)"
    )


def parse_trace(text: str, fmt: TraceFormat = "auto", name: str = "") -> Trace:
    """Parse a trace; times become offsets from the first request, sorted."""
    if fmt == "auto":
        fmt = detect_format(text, name)
    if fmt in ("gunicorn", "nginx"):
        stamped, skipped = _from_access(text.splitlines())
    elif fmt == "csv":
        stamped, skipped = _from_csv(text)
    elif fmt == "jsonl":
        stamped, skipped = _from_jsonl(text.splitlines())
    else:
        raise TraceError(f"unknown trace format {fmt!r}; known: {', '.join(FORMATS)}")
    if not stamped:
        raise TraceError(f"the trace holds no request ({skipped} line(s) were not requests)")
    stamped.sort(key=lambda item: item[0])
    first = stamped[0][0]
    requests = tuple(
        TraceRequest(round(when - first, 6), r.method, r.path, r.query) for when, r in stamped
    )
    return Trace(requests, skipped)


def read_trace(path: Path, fmt: TraceFormat = "auto") -> Trace:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise TraceError(f"cannot read trace {path}: {exc.strerror}") from None
    return parse_trace(text, fmt, Path(path).name)


def share(requests: Sequence[TraceRequest], index: int, count: int) -> list[TraceRequest]:
    """Worker `index` of `count` takes every count-th request, starting at its index: the
    workers' shares interleave, so each keeps the trace's shape at 1/count of its rate."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"worker index {index} is not in 0..{count - 1}")
    return list(requests[index::count])


def to_csv(requests: Iterable[TraceRequest]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for r in requests:
        writer.writerow([f"{r.at:.3f}", r.method, r.path, r.query])
    return out.getvalue()
