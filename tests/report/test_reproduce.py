"""`loadlab reproduce reports/<name>`: the same matrix again, reported beside the original."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadlab.core.errors import LabError
from loadlab.core.results import read_manifest, write_json_atomic
from loadlab.orchestration.reproduce import reproduce
from loadlab.report import build_report
from tests.report.conftest import derive_run, load_json


def test_reproduce_reruns_the_manifest_config_and_compares(tmp_path: Path, run_dir: Path) -> None:
    reports = tmp_path / "reports"
    original = build_report([run_dir], out_root=reports)
    asked: list[dict[str, Any]] = []

    def executor(config: dict[str, Any], results_root: Path) -> Path:
        asked.append(config)
        return derive_run(
            results_root, "20250309T120000Z-rerun", hostname="laptop", json_ratio_factor=1.0
        )

    new = reproduce(original, results_root=tmp_path / "results", executor=executor)

    assert asked == [read_manifest(run_dir).config]  # same matrix, settings, scale and seed
    assert new.parent == reports and new != original
    meta = load_json(new / "report.json")
    assert meta["kind"] == "reproduction"
    assert [r["run_id"] for r in meta["runs"]] == [
        "20250301T101500Z-small",
        "20250309T120000Z-rerun",
    ]
    html = (new / "index.html").read_text()
    assert "Re-run against the original" in html
    # the environment differences are listed
    assert "machine.hostname" in html and "laptop" in html and "packages.uvicorn" in html
    # identical figures: every ratio reproduced within its confidence interval
    assert 'class="badge v-reproduced"' in html
    assert "v-higher" not in html.split('id="changes"')[1].split("</section>")[0]
    # the original report is untouched and both are listed
    assert (original / "index.html").is_file()
    index = (reports / "index.html").read_text()
    assert (
        f'href="{original.name}/index.html"' in index and f'href="{new.name}/index.html"' in index
    )


def test_reproduce_needs_a_config_in_the_manifest(tmp_path: Path, run_dir: Path) -> None:
    original = build_report([run_dir], out_root=tmp_path / "reports")
    manifest = read_manifest(original)
    manifest.config = {}
    write_json_atomic(original / "manifest.json", manifest)
    with pytest.raises(LabError, match="no config"):
        reproduce(original, executor=lambda config, root: pytest.fail("must not run"))


def test_reproduce_refuses_a_folder_that_is_not_a_report(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="not a loadlab report"):
        reproduce(tmp_path)
