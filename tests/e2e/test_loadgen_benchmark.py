"""benchmarks/loadgen_overhead.py runs end to end: one tiny round, and it prints a ratio."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO, SCALE, Lab

pytestmark = pytest.mark.slow


def test_one_tiny_round_prints_the_lab_over_bare_ratio(lab: Lab, tmp_path: Path) -> None:
    tiny = ["--rounds", "1", "--duration", "2", "--warmup", "1", "--users", "8"]  # fmt: skip
    where = ["--scale", str(SCALE), "--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "benchmarks/loadgen_overhead.py", *tiny, *where],
        cwd=REPO,
        env=lab.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"ratio lab/bare .*: \d+\.\d{3} ± \d+\.\d{3}", done.stdout), done.stdout
    assert (tmp_path / "out" / "cells").is_dir()
    assert lab.leftovers() == []
