"""The runner's A/A arm and `--precision` loop, driven against a lab that only pretends.

The fake lab serves nothing and writes each cell's measurement.json itself: a variant's
throughput is its nominal rate times (1 + noise), so the tests choose how precise a block is.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from loadlab.core.config import RunConfig
from loadlab.core.progress import Silent
from loadlab.core.results import CellSpec, VariantRecord, read_manifest, read_summary
from loadlab.measurement import precision
from loadlab.orchestration.runner import Run

RATES = {"fastapi-async": 2000.0, "flask-sync": 1000.0}


class Served:
    def __init__(self, variant: str) -> None:
        self.variant = variant
        self.url = "http://127.0.0.1:1"

    def alive(self) -> bool:
        return True

    def record(self) -> VariantRecord:
        return VariantRecord(
            name=self.variant, framework="x", server="x", worker_class="x", driver="x",
            workers=1, pool_size=1, command=["serve", self.variant],
        )  # fmt: skip


class FakeLab:
    def __init__(self, noise: float) -> None:
        self.rng = np.random.default_rng(3)
        self.noise = noise
        self.served: list[str] = []
        self.data = {"checksum": "c" * 64, "users": 10}
        self.postgres: dict[str, Any] = {}
        self.topology: dict[str, Any] = {"app_workers": 1}
        self.caveats: list[str] = []
        self.dsn = self.admin_dsn = "postgresql://nowhere"

    @contextlib.contextmanager
    def serve(
        self, variant: str, knobs: dict[str, Any] | None = None, profile: str = "stock"
    ) -> Iterator[Served]:
        self.served.append(variant)
        yield Served(variant)

    def run_cell(self, spec: CellSpec, served: Served, cell_dir: Path, progress: Any) -> None:
        rate = RATES[served.variant] * (1 + self.noise * self.rng.standard_normal())
        measurement = {"requests": int(rate * spec.duration_s), "errors": 0}
        measurement["measured_s"] = spec.duration_s
        (cell_dir / "measurement.json").write_text(json.dumps(measurement))


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lab: FakeLab, **settings: Any) -> Path:
    monkeypatch.setattr(
        "loadlab.orchestration.runner.open_lab", lambda *_: contextlib.nullcontext(lab)
    )
    base: dict[str, Any] = {"variants": ["flask-sync", "fastapi-async"], "workloads": ["json"]}
    base |= {"repeats": 1, "duration_s": 10, "warmup_s": 0, "verify": False, "order_seed": 1}
    config = RunConfig.model_validate(base | settings)
    return Run(config, tmp_path, Silent()).execute()


def test_the_aa_arm_is_served_as_its_variant_and_measured_in_every_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lab = FakeLab(noise=0.01)
    run_dir = run(tmp_path, monkeypatch, lab, calibrate="fastapi-async", repeats=3)
    assert "fastapi-async#b" not in lab.served and "fastapi-async" in lab.served
    summary = read_summary(run_dir)
    arm_cells = [c for c in summary.cells if c.spec.variant == "fastapi-async#b"]
    assert sorted(c.spec.repeat for c in arm_cells) == [1, 2, 3]
    [aa] = summary.noise_floor
    assert (aa.numerator, aa.denominator, aa.blocks) == ("fastapi-async#b", "fastapi-async", 3)
    assert aa.estimate.ci_low < 1.0 < aa.estimate.ci_high
    assert [(r.numerator, r.denominator) for r in summary.ratios] == [
        ("fastapi-async", "flask-sync")
    ]
    assert read_manifest(run_dir).variants["fastapi-async#b"].name == "fastapi-async"


def test_precision_stops_after_three_blocks_once_it_is_reached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = run(tmp_path, monkeypatch, FakeLab(noise=0.002), precision=0.05)
    manifest, summary = read_manifest(run_dir), read_summary(run_dir)
    assert manifest.precision is not None and summary.precision is not None
    assert manifest.precision.stopped_because == "precision reached"
    assert manifest.precision.blocks_run == 3 == summary.ratios[0].blocks
    [p] = summary.precision.ratios
    assert p.reached and p.half_width is not None and p.half_width <= 0.05
    assert len(manifest.order["sequence"]) == 3 * 2  # the cells run, not the cells planned


def test_precision_out_of_reach_stops_at_the_block_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(precision, "MAX_BLOCKS", 5)
    run_dir = run(tmp_path, monkeypatch, FakeLab(noise=0.3), precision=0.001)
    report = read_manifest(run_dir).precision
    assert report is not None
    assert (report.stopped_because, report.blocks_run, report.max_blocks) == ("block limit", 5, 5)
    assert not report.ratios[0].reached


def test_precision_stops_when_the_budget_is_spent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = run(tmp_path, monkeypatch, FakeLab(noise=0.3), precision=0.001, budget_s=1e-6)
    report = read_manifest(run_dir).precision
    assert report is not None
    assert (report.stopped_because, report.blocks_run) == ("budget spent", 1)
