"""Trace parsing (gunicorn, nginx combined, the lab's CSV and JSONL), the worker split, the
replay's pacing, and the shipped shop trace against its generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadlab.orchestration.tracegen import shop_trace
from loadtests.pacing import ReplaySchedule, backlog
from loadtests.replay import SHOP_TRACE, Replayer, fold_user_id, stats_name
from loadtests.trace import (
    Trace,
    TraceError,
    TraceRequest,
    detect_format,
    parse_access_line,
    parse_trace,
    read_trace,
    share,
    to_csv,
)
from loadtests.workloads import get_workload

# gunicorn's default access_log_format, as it writes it
GUNICORN = """\
127.0.0.1 - - [10/Jun/2024:12:00:01 +0000] "GET /users/17 HTTP/1.1" 200 123 "-" "python-httpx/0.27"
127.0.0.1 - - [10/Jun/2024:12:00:01 +0000] "GET /lookup?name=Zo%C3%AB HTTP/1.1" 200 16 "-" "curl/8.5.0"
127.0.0.1 - - [10/Jun/2024:12:00:03 +0000] "POST /orders HTTP/1.1" 201 301 "-" "k6/0.50"
"""

# nginx's `combined`: a quote inside a field is escaped as \\x22; a scanner's junk request
NGINX = r"""
203.0.113.9 - alice [10/Jun/2024:14:00:00 +0200] "GET /products/top?limit=10 HTTP/2.0" 200 512 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64)"
203.0.113.9 - - [10/Jun/2024:14:00:00 +0200] "\x16\x03\x01" 400 157 "-" "-"
198.51.100.4 - - [10/Jun/2024:14:00:02 +0200] "GET http://shop.example/users/5/orders?limit=10 HTTP/1.1" 200 88 "-" "agent \x22quoted\x22"
not a log line at all
"""


def test_a_gunicorn_line() -> None:
    parsed = parse_access_line(GUNICORN.splitlines()[1])
    assert parsed is not None
    when, request = parsed
    assert when == 1718020801.0
    assert (request.method, request.path, request.query) == ("GET", "/lookup", "name=Zo%C3%AB")
    assert request.target == "/lookup?name=Zo%C3%AB"


def test_gunicorn_log_spreads_a_second_over_its_requests() -> None:
    trace = parse_trace(GUNICORN, "gunicorn")
    assert [(r.at, r.method, r.path) for r in trace.requests] == [
        (0.0, "GET", "/users/17"),
        (0.5, "GET", "/lookup"),  # the second request of the same logged second
        (2.0, "POST", "/orders"),
    ]
    assert trace.skipped == 0


def test_nginx_combined_with_escapes_absolute_targets_and_junk() -> None:
    trace = parse_trace(NGINX)  # detected
    assert [(r.at, r.target) for r in trace.requests] == [
        (0.0, "/products/top?limit=10"),
        (2.0, "/users/5/orders?limit=10"),
    ]
    assert trace.skipped == 2  # the TLS handshake sent as "HTTP" and the stray line


def test_the_lab_csv_round_trips_and_sorts() -> None:
    requests = [
        TraceRequest(1.5, "GET", "/db"),
        TraceRequest(0.25, "POST", "/orders"),
        TraceRequest(0.0, "GET", "/queries", "queries=5"),
    ]
    trace = parse_trace(to_csv(requests), name="t.csv")
    assert [(r.at, r.method, r.target) for r in trace.requests] == [
        (0.0, "GET", "/queries?queries=5"),
        (0.25, "POST", "/orders"),
        (1.5, "GET", "/db"),
    ]


def test_jsonl_with_epoch_times_and_a_bad_line() -> None:
    lines = [
        {"timestamp": 1718020800.25, "method": "get", "path": "/users/3"},
        {"timestamp": 1718020800.0, "method": "GET", "path": "/lookup?name=x"},
        {"timestamp": "soon", "method": "GET", "path": "/db"},
        ["not", "an", "object"],
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    assert detect_format(text) == "jsonl"
    trace = parse_trace(text)
    assert [(r.at, r.method, r.target) for r in trace.requests] == [
        (0.0, "GET", "/lookup?name=x"),
        (0.25, "GET", "/users/3"),
    ]
    assert trace.skipped == 2


def test_what_is_not_a_trace_says_so(tmp_path: Path) -> None:
    with pytest.raises(TraceError, match="not a trace in a known format"):
        parse_trace("hello\nworld\n")
    with pytest.raises(TraceError, match="holds no request"):
        parse_trace("timestamp,method,path,query\n")
    with pytest.raises(TraceError, match="needs the columns"):
        parse_trace("when,what\n1,GET\n", "csv")
    with pytest.raises(TraceError, match="cannot read trace"):
        read_trace(tmp_path / "missing.log")


def test_span_and_rate() -> None:
    trace = Trace(tuple(TraceRequest(t, "GET", "/") for t in (0.0, 1.0, 2.0, 3.0)))
    assert trace.span == 4.0  # the last request plus one mean gap
    assert trace.rate == 1.0
    assert Trace((TraceRequest(0.0, "GET", "/"),)).span == 1.0


def test_share_interleaves_and_covers_every_request_once() -> None:
    requests = [TraceRequest(float(i), "GET", f"/{i}") for i in range(10)]
    shares = [share(requests, i, 3) for i in range(3)]
    assert [r.path for r in shares[1]] == ["/1", "/4", "/7"]
    assert sorted(r.at for s in shares for r in s) == [r.at for r in requests]
    with pytest.raises(ValueError):
        share(requests, 3, 3)


def test_replay_schedule_paces_by_speed_and_loops() -> None:
    schedule = ReplaySchedule([0.0, 1.0, 3.0], span=4.0, speed=2.0, start=100.0)
    taken = [schedule.take() for _ in range(5)]
    assert taken == [(0, 100.0), (1, 100.5), (2, 101.5), (0, 102.0), (1, 102.5)]
    assert schedule.due(99.0) == 0
    assert schedule.due(100.0) == 1
    assert schedule.due(101.6) == 3
    assert schedule.due(102.6) == 5
    # the sixth send was due at 103.5 and the seventh (a new pass) at 104.0: both are late
    assert schedule.behind(103.6) == 1 and schedule.behind(104.0) == 2


def test_late_sends_count_in_the_backlog() -> None:
    schedule = ReplaySchedule([0.0, 0.5], span=1.0, start=50.0)
    schedule.take()
    assert backlog(now=51.2) >= schedule.behind(51.2) == 2


def test_replay_schedule_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        ReplaySchedule([], span=1.0)
    with pytest.raises(ValueError):
        ReplaySchedule([1.0, 0.5], span=2.0)
    with pytest.raises(ValueError):
        ReplaySchedule([0.0], span=1.0, speed=0)


def test_workers_replay_disjoint_shares_at_the_trace_pace() -> None:
    trace = Trace(tuple(TraceRequest(i * 0.1, "GET", f"/users/{i}") for i in range(10)))
    workers = [Replayer(trace, i, 2, speed=1.0, start=0.0) for i in range(2)]
    sent = []
    for worker in workers:
        for _ in range(5):
            upcoming = worker.next()
            assert upcoming is not None
            request, intended = upcoming
            assert intended == pytest.approx(request.at)  # the recorded time, not when sent
            sent.append(request.path)
    assert sorted(sent) == sorted(r.path for r in trace.requests)
    # the next pass starts one span later
    request, intended = workers[1].next()  # type: ignore[misc]
    assert request.path == "/users/1" and intended == pytest.approx(1.0 + 0.1)
    idle = Replayer(Trace(trace.requests[:1]), 1, 2, speed=1.0)
    assert idle.next() is None  # more workers than requests


def test_ids_outside_the_seeded_range_are_folded_in() -> None:
    assert fold_user_id("/users/2500/orders?limit=10", 2000) == "/users/500/orders?limit=10"
    assert fold_user_id("/users/2000", 2000) == "/users/2000"
    assert fold_user_id("/users/0", 2000) == "/users/2000"
    assert fold_user_id("/users/abc", 2000) == "/users/abc"
    assert fold_user_id("/lookup?name=1", 2000) == "/lookup?name=1"
    assert stats_name("/users/77/orders") == "/users/[id]/orders"


def test_the_shipped_trace_is_the_generator_output() -> None:
    shipped = read_trace(SHOP_TRACE)
    generated = parse_trace(to_csv(shop_trace()), "csv")
    assert shipped == generated
    assert shop_trace() == shop_trace()  # deterministic
    methods = {r.method for r in shipped.requests}
    paths = {stats_name(r.path) for r in shipped.requests}
    assert methods == {"GET", "POST"}
    assert {"/users/[id]", "/users/[id]/orders", "/products/top", "/lookup", "/orders"} == paths
    assert 5 < shipped.rate < 30 and SHOP_TRACE.stat().st_size < 200_000


def test_trace_replay_workloads_carry_their_speed() -> None:
    assert get_workload("trace-replay").replay.speed == 1.0  # type: ignore[union-attr]
    assert get_workload("trace-replay-0.5").replay.speed == 0.5  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="trace-replay-N"):
        get_workload("trace-replay-0")
