"""measurement.json, resources.csv and the dataset's sizes are defined once, in labcontract,
and both sides use that one definition."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labcontract import dataset
from labcontract.env import SwarmEnv
from labcontract.measurement import MeasuredWindow, Measurement
from labcontract.resources import RESOURCE_COLUMNS, Resource
from labcontract.versions import MEASUREMENT_VERSION, SchemaVersionError
from loadlab.measurement import soak, telemetry
from loadlab.measurement.analysis import component_usage
from loadlab.report.rawdata import read_resources, read_window
from loadtests.workloads.base import Draw
from services import datagen, seed

REPO = Path(__file__).resolve().parents[2]
PUBLISHED = sorted((REPO / "reports").glob("*/cells/*/measurement.json"))


def test_a_measurement_round_trips_through_its_file(tmp_path: Path) -> None:
    written = Measurement(
        workload="db-read",
        start_wall=100.0,
        measure_from_wall=105.0,
        stop_wall=135.0,
        measured_s=30.0,
        requests=3_000,
        errors=3,
        by_name={"/db": [3_000, 3]},
        swarm={"workers": 1},
        window_s=10.0,
        windows=[MeasuredWindow(index=0, start_s=0.0, requests=1_000, errors=1)],
    )
    path = tmp_path / "measurement.json"
    path.write_text(written.to_json())

    assert json.loads(path.read_text())["schema_version"] == MEASUREMENT_VERSION
    assert Measurement.read(path) == written
    assert read_window(path) == (100.0, 105.0, 135.0)
    assert [w.requests for w in soak.windows(Measurement.read(path), 30.0)] == [1_000]


@pytest.mark.skipif(not PUBLISHED, reason="no published report with cells")
@pytest.mark.parametrize("path", PUBLISHED[:3], ids=lambda p: p.parent.name)
def test_published_measurements_without_a_version_are_version_1(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert "schema_version" not in raw
    read = Measurement.read(path)
    assert read.schema_version == 1
    assert read.requests == raw["requests"] and read.hdr == raw["hdr"]


def test_a_measurement_of_a_newer_version_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "cells" / "001" / "measurement.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"schema_version": MEASUREMENT_VERSION + 1, "requests": 1}))
    with pytest.raises(SchemaVersionError) as error:
        Measurement.read(path)
    message = str(error.value)
    assert str(path) in message
    assert f"schema_version {MEASUREMENT_VERSION + 1}" in message
    assert f"reads version {MEASUREMENT_VERSION}" in message
    assert read_window(path) is None, "the report's chart skips what it cannot read"


def test_a_partial_measurement_still_loads() -> None:
    # a master that died early, or a cell a fault cut short, leaves what it had
    assert Measurement.from_json("{}") == Measurement()
    assert Measurement.from_json('{"requests": 5, "something_newer": 1}').requests == 5


def test_the_sampler_writes_the_contracts_columns(tmp_path: Path) -> None:
    assert list(RESOURCE_COLUMNS) == telemetry.FIELDS
    assert RESOURCE_COLUMNS == ("time", "component", "pid", "cpu_percent", "rss_bytes", "uss_bytes")
    assert {str(column) for column in Resource} == set(RESOURCE_COLUMNS)


def test_every_reader_reads_the_contracts_columns(tmp_path: Path) -> None:
    path = tmp_path / "resources.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(RESOURCE_COLUMNS)
        for t in (10.0, 10.5, 11.0):
            writer.writerow([t, "app", 7, 50.0, 1_000_000, 600_000])
    usage = component_usage(path, 10.0, 11.0)["app"]
    assert usage.cpu_mean_percent == pytest.approx(50.0)
    assert [s.component for s in read_resources(path)] == ["app"]
    basis, series = soak.rss_series(path, 10.0, 11.0)["app"]
    assert basis == "uss" and [value for _, value in series] == [600_000] * 3


def test_the_seeder_and_the_locust_side_agree_on_the_datasets_sizes() -> None:
    for scale in (1.0, 0.1, 0.01, 0.002, 0.0001):
        users = dataset.users_for_scale(scale)
        draw = Draw(None, users)  # type: ignore[arg-type]
        assert draw.products_seeded == dataset.products_for_scale(scale), scale
    assert seed.users_for_scale is dataset.users_for_scale
    assert seed.products_for_scale is dataset.products_for_scale
    assert seed.DEFAULT_SEED == dataset.DEFAULT_SEED == 20240601
    assert datagen.SOLD_OUT_EVERY == dataset.SOLD_OUT_EVERY
    assert dataset.users_for_scale(1.0) == 1_000_000
    assert dataset.products_for_scale(0.001) == 100
    with pytest.raises(ValueError, match="scale must be positive"):
        dataset.users_for_scale(0)


def test_the_labs_defaults_seed_with_the_contracts_seed() -> None:
    from loadlab.core.config import load_config

    assert load_config("quick").data_seed == dataset.DEFAULT_SEED


MASTER = """
from types import SimpleNamespace
from loadtests import hdr
from loadtests.tally import Recorder

recorder = Recorder(window_s=5.0)
recorder.measure_from = 0.0
for i in range(100):
    recorder.record("/db", 0.002, i * 0.1, None if i % 10 else "boom")
hdr._merged.add("w1", recorder.drain(final=True))
runner = SimpleNamespace(worker_count=1)
hdr.write_measurement(SimpleNamespace(runner=runner, parsed_options=SimpleNamespace(num_users=4)))
"""


def test_the_master_writes_the_contracts_measurement(tmp_path: Path) -> None:
    # in a process of its own: importing Locust monkey-patches this one with gevent
    out = tmp_path / "cell" / "measurement.json"
    env = SwarmEnv(workload="json", window_s=5.0, measurement_out=str(out), swarm={"workers": 1})
    done = subprocess.run(
        [sys.executable, "-c", MASTER],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    written = Measurement.read(out)
    assert written.schema_version == MEASUREMENT_VERSION
    assert (written.workload, written.requests, written.errors) == ("json", 100, 10)
    assert written.users == 4 and written.swarm == {"workers": 1}
    assert [(w.index, w.start_s, w.requests) for w in written.windows] == [
        (0, 0.0, 50),
        (1, 5.0, 50),
    ]
