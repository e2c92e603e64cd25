"""The lab judges its own measurements: overload shows as queueing, cheats are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from loadlab.core.results import Summary
from loadlab.core.verdicts import Verdict
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_open_model_far_above_capacity_is_not_held_and_shows_the_queue(lab: Lab) -> None:
    # one gthread worker with one thread serves /io?ms=50 at 20 req/s at most
    done = lab.run(
        "run", "--variants", "flask-sync", "--workloads", "io", "--rates", "200",
        "--app-workers", "1", "--pool-size", "1", "--knob", "flask-sync.threads=1",
        "--duration", "5", "--warmup", "1",
        "--scale", "0.002", "--no-verify", "--no-report",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    [cell] = Summary.model_validate_json((run_dir / "summary.json").read_text()).cells
    assert cell.target_rate == 200
    assert cell.rate_held is False
    assert not cell.validity.valid
    [held] = [r for r in cell.validity.reasons if r.code is Verdict.RATE_NOT_HELD]
    assert "target rate not held" in held.message
    # served at about 20/s, a request's wait since its intended send time grows for the
    # whole cell: p99 is seconds, far beyond the 50 ms of service time
    assert cell.throughput_rps < 40
    assert cell.latency.p99 > 1000
    assert "INVALID" in done.stdout


def test_verification_refuses_a_variant_that_caches(lab: Lab) -> None:
    done = lab.run(
        "run", "--variants", "flask-sync,flask-cached", "--workloads", "json", "--users", "4",
        "--duration", "2", "--warmup", "0", "--scale", "0.002", "--no-report",
        LOADLAB_EXTRA_VARIANTS=str(FIXTURES / "extra_variants.toml"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    summary = Summary.model_validate_json((run_dir / "summary.json").read_text())
    verdicts = {v.variant: v for v in summary.verification}
    assert verdicts["flask-sync"].passed
    assert not verdicts["flask-cached"].passed
    assert any(
        "/users/1" in f and "statements per request" in f for f in verdicts["flask-cached"].failures
    )
    assert {c.spec.variant for c in summary.cells} == {"flask-sync"}
    assert "flask-cached" in summary.skipped_variants
    assert "flask-cached was not benchmarked" in done.stdout
