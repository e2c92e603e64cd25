"""`loadlab tune` for real: every configuration tried is a measured cell, the winner is
written with the machine, and `loadlab run --profile tuned` then runs with it."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from loadlab.core.results import Summary
from tests.e2e.conftest import Lab

pytestmark = pytest.mark.slow


def test_tune_then_run_with_the_tuned_profile(lab: Lab, tmp_path: Path) -> None:
    profile = tmp_path / "tuned.toml"
    tiny = ["--scale", "0.002", "--duration", "1.5", "--warmup", "0.5"]
    done = lab.run(
        "tune", "--variants", "fastapi-async", "--workloads", "db", "--users", "8",
        "--db-connections", "20", "--confirm-pairs", "1", *tiny,
        LOADLAB_TUNED_PROFILE=str(profile),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    [run_dir] = lab.run_dirs()
    report = json.loads((run_dir / "tune.json").read_text())
    [result] = report["results"]
    run = [t for t in result["trials"] if t["cell_id"]]
    check = result["confirmation"]
    confirming = [t for pair in check["pairs"] for t in pair] if check else []
    assert result["cells"] == len(run) + len(confirming) and len(run) >= 3
    if check:  # a winner other than stock met it again, start and winner on fresh cells
        assert len(check["pairs"]) == 1 and check["pairs"][0][1]["knobs"] == check["candidate"]
        assert all(t["cell_id"] and t["throughput_rps"] > 0 for t in confirming)
        assert (result["winner"] == check["candidate"]) == check["confirmed"]
    assert all(t["throughput_rps"] > 0 and t["p99_ms"] > 0 for t in run)
    assert result["winner"] in [t["knobs"] for t in run]
    over = [t for t in result["trials"] if t["skipped"]]
    assert over and all("over the budget of 20" in t["skipped"] for t in over)  # 4 × 10, 2 × 32
    assert all((run_dir / "cells" / t["cell_id"] / "measurement.json").exists() for t in run)
    written = tomllib.loads(profile.read_text())
    entry = written["variants"]["fastapi-async"]["db"]
    assert entry["knobs"] == result["winner"] and entry["tune_run"] == report["run_id"]
    assert written["machine"]["cpu_count"] >= 1 and written["budget"]["db_connections"] == 20

    done = lab.run(
        "run", "--variants", "fastapi-async", "--workloads", "db", "--users", "8",
        "--profile", "tuned", "--no-report", *tiny, LOADLAB_TUNED_PROFILE=str(profile),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    tuned_run = next(d for d in lab.run_dirs() if d != run_dir)
    summary = Summary.model_validate_json((tuned_run / "summary.json").read_text())
    assert {c.spec.profile for c in summary.cells} == {"tuned"}
    assert all(c.spec.knobs == result["winner"] for c in summary.cells)
    assert lab.leftovers() == []


def test_an_out_of_range_knob_is_refused_before_anything_starts(lab: Lab) -> None:
    done = lab.run("run", "--knob", "flask-sync.threads=0", "--no-report")
    assert done.returncode == 2
    assert "flask-sync.threads=0 is out of range: threads takes an integer from 1 to" in (
        done.stderr + done.stdout
    )
    assert "Traceback" not in done.stderr and not lab.run_dirs()
