"""The sampler reads the process table once per sample, and USS only when asked."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from loadlab.measurement.telemetry import Sampler, child_map, fixed


def test_members_are_the_roots_and_all_their_descendants() -> None:
    me = os.getpid()
    sampler = Sampler(Path("unused.csv"), {})
    children = {me: [10_000_001, 10_000_002], 10_000_001: [10_000_003], 10_000_004: [1]}
    assert sampler._members([me], children) == {me, 10_000_001, 10_000_002, 10_000_003}
    assert sampler._members([2**22 + 12345], children) == set()  # a root that is gone


def test_the_child_map_knows_this_process() -> None:
    assert os.getpid() in child_map().get(os.getppid(), [])


def test_uss_is_left_empty_unless_asked(tmp_path: Path) -> None:
    for uss in (False, True):
        sampler = Sampler(tmp_path / "r.csv", {"me": fixed(os.getpid())}, uss=uss)
        sampler._tracked(os.getpid())  # primes the CPU counter, as run() does
        out = io.StringIO()
        sampler.sample_once(csv.writer(out))
        rows = [r for r in csv.reader(io.StringIO(out.getvalue())) if r[1] == "me"]
        assert len(rows) == 1 and int(rows[0][4]) > 0
        assert (rows[0][5] != "") == uss  # a process's own smaps is always readable
