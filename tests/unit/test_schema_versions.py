"""manifest.json, summary.json and measurement.json carry a schema_version that their readers
check: a file of an unknown version is refused with its name and both versions, and a file
without one (every published report) is version 1 and still loads."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from labcontract.versions import (
    MANIFEST_VERSION,
    MEASUREMENT_VERSION,
    SUMMARY_VERSION,
    SchemaVersionError,
    schema_version,
)
from loadlab.core.errors import LabError
from loadlab.core.results import Manifest, Summary, read_manifest, read_summary

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "report" / "fixtures" / "run-small"
PUBLISHED = sorted(p.parent for p in (REPO / "reports").glob("**/manifest.json"))


def test_every_file_is_written_with_its_version() -> None:
    summary = Summary(run_id="r", backend="local")
    assert json.loads(summary.model_dump_json())["schema_version"] == SUMMARY_VERSION
    manifest = read_manifest(FIXTURE)
    assert json.loads(manifest.model_dump_json())["schema_version"] == MANIFEST_VERSION
    assert MANIFEST_VERSION == MEASUREMENT_VERSION == 1 and SUMMARY_VERSION == 2


@pytest.mark.parametrize("run_dir", PUBLISHED, ids=lambda p: str(p.relative_to(REPO / "reports")))
def test_published_runs_without_a_version_still_load(run_dir: Path) -> None:
    for name in ("manifest.json", "summary.json"):
        raw = json.loads((run_dir / name).read_text())
        assert "schema_version" not in raw, f"{run_dir / name} predates versions"
    assert read_manifest(run_dir).schema_version == 1
    assert read_summary(run_dir).schema_version == 1


@pytest.mark.parametrize(
    ("name", "read", "current"),
    [
        ("manifest.json", read_manifest, MANIFEST_VERSION),
        ("summary.json", read_summary, SUMMARY_VERSION),
    ],
)
def test_a_newer_version_is_refused_by_name(
    tmp_path: Path, name: str, read: object, current: int
) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(FIXTURE, run_dir)
    path = run_dir / name
    raw = json.loads(path.read_text())
    path.write_text(json.dumps(raw | {"schema_version": current + 1}))
    with pytest.raises(LabError) as error:
        read(run_dir)  # type: ignore[operator]
    message = str(error.value)
    assert str(path) in message
    assert f"schema_version {current + 1}" in message
    assert re.search(rf"reads version (1 to )?{current}\b", message), message


def test_a_model_parsed_directly_refuses_a_newer_version_too() -> None:
    raw = json.loads((FIXTURE / "manifest.json").read_text())
    with pytest.raises(ValidationError, match="schema_version"):
        Manifest.model_validate(raw | {"schema_version": MANIFEST_VERSION + 1})
    with pytest.raises(ValidationError, match="schema_version"):
        Summary.model_validate({"run_id": "r", "backend": "local", "schema_version": 99})


@pytest.mark.parametrize("found", [0, -1, "1", 1.5, True, None])
def test_a_version_that_is_no_version_is_refused(found: object) -> None:
    with pytest.raises(SchemaVersionError, match=r"x\.json: schema_version"):
        schema_version({"schema_version": found}, "x.json", 3)


def test_versions_up_to_the_current_one_are_read() -> None:
    assert schema_version({}, "x.json", 3) == 1
    assert schema_version({"schema_version": 2}, "x.json", 3) == 2
    with pytest.raises(SchemaVersionError, match="reads version 1 to 3"):
        schema_version({"schema_version": 4}, "x.json", 3)
