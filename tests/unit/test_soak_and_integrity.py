"""Soak trends, checksums and fault reasons: the pure logic behind the slow tests."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import get_args

import pytest

from loadlab.core import integrity
from loadlab.core.config import Soak
from loadlab.core.config import Validity as Thresholds
from loadlab.core.errors import LabError
from loadlab.core.results import Manifest, write_json_atomic
from loadlab.core.verdicts import Verdict
from loadlab.measurement.faults import VERDICTS, Fault, FaultKind, read_faults
from loadlab.measurement.soak import HOUR, MB, rss_series, rss_trends, slope
from loadlab.measurement.validity import judge


def test_slope_is_a_least_squares_fit() -> None:
    assert slope([0, 1, 2, 3], [1, 3, 5, 7]) == pytest.approx(2.0)
    assert slope([5], [1]) is None
    assert slope([1, 1], [1, 2]) is None


def _resources(path: Path, growth_mb_per_hour: float, seconds: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "component", "pid", "cpu_percent", "rss_bytes"])
        for t in range(seconds):
            leak = int(growth_mb_per_hour * MB * t / HOUR)
            # two processes: the component's RSS is their sum at each sample
            writer.writerow([1000 + t, "app", 1, 10, 50 * MB + leak])
            writer.writerow([1000 + t, "app", 2, 10, 30 * MB])
            writer.writerow([1000 + t, "postgres", 3, 5, 100 * MB + (t % 2) * MB])
            writer.writerow([1000 + t, "machine", 0, 50, 4000 * MB])


def test_rss_growth_is_flagged_only_over_the_threshold_and_when_judged(tmp_path: Path) -> None:
    path = tmp_path / "resources.csv"
    _resources(path, growth_mb_per_hour=120, seconds=900)
    series = rss_series(path, 1000, 1000 + 900)
    assert set(series) == {"app", "postgres"}  # the machine row is not a component
    trends = {t.component: t for t in rss_trends(series, threshold=50, judged=True)}
    assert trends["app"].growth_mb_per_hour == pytest.approx(120, rel=0.02)
    assert trends["app"].start_mb == pytest.approx(80, abs=0.1)
    assert trends["app"].flagged
    assert abs(trends["postgres"].growth_mb_per_hour) < 5 and not trends["postgres"].flagged
    assert not any(t.flagged for t in rss_trends(series, threshold=50, judged=False))
    assert not any(t.flagged for t in rss_trends(series, threshold=500, judged=True))


def test_soak_settings_have_documented_defaults() -> None:
    soak = Soak()
    assert (soak.enabled, soak.window_s, soak.rss_growth_mb_per_hour) == (False, 60, 50)


def _manifest(checksums: dict[str, dict[str, str]] | None) -> Manifest:
    return Manifest(
        run_id="r", loadlab_version="0", backend="local", started="now", command="x",
        checksums=checksums,
    )  # fmt: skip


def test_checksums_catch_a_changed_or_missing_file(tmp_path: Path) -> None:
    cell = tmp_path / "cells" / "001-a"
    cell.mkdir(parents=True)
    (cell / "measurement.json").write_text('{"requests": 10}\n')
    (cell / "locust-master.log").write_text("logs are not data\n")
    (cell / ".measurement.json.123.tmp").write_text("a temporary")
    sealed = integrity.cell_checksums(cell)
    assert list(sealed) == ["measurement.json"]
    manifest = _manifest({"001-a": sealed})
    assert integrity.check(tmp_path, manifest) is None
    (cell / "locust-master.log").write_text("changed")  # not covered
    assert integrity.check(tmp_path, manifest) is None
    (cell / "measurement.json").write_text('{"requests": 11}\n')
    with pytest.raises(LabError, match=r"001-a/measurement\.json does not match its sha256"):
        integrity.check(tmp_path, manifest)
    (cell / "measurement.json").unlink()
    assert integrity.mismatches(tmp_path, manifest) == ["cells/001-a/measurement.json (missing)"]


def test_a_manifest_without_checksums_is_accepted_with_a_caveat(tmp_path: Path) -> None:
    assert integrity.check(tmp_path, _manifest(None)) == integrity.LEGACY_CAVEAT
    assert integrity.check(tmp_path, _manifest({})) is None


def test_faults_come_first_among_the_reasons(tmp_path: Path) -> None:
    fault = Fault(kind="app process died", detail="flask-sync's server exited", at_s=3.0)
    write_json_atomic(tmp_path / "faults.json", [fault.model_dump()])
    [read] = read_faults(tmp_path)
    assert read.reason.code is Verdict.APP_DIED
    assert read.reason.message == "app process died: flask-sync's server exited"
    verdict = judge(
        requests=0, errors=0, target_rate=None, achieved_rps=0, resources={}, cpu_count=2,
        workers_expected=2, workers_final=2, thresholds=Thresholds(), faults=[read.reason],
    )  # fmt: skip
    assert not verdict.valid and verdict.reasons[0] == read.reason


def test_uss_is_judged_where_sampled_and_postgres_rss_never(tmp_path: Path) -> None:
    """Postgres backends touching shared buffers: summed RSS climbs, their own memory does not."""
    path = tmp_path / "resources.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["time", "component", "pid", "cpu_percent", "rss_bytes", "uss_bytes"])
        for t in range(900):
            warming = int(2000 * MB * t / 900)  # the cache warming, seen once per backend
            writer.writerow([1000 + t, "postgres", 3, 5, 100 * MB + warming, 20 * MB])
            writer.writerow([1000 + t, "postgres", 4, 5, 100 * MB + warming, 20 * MB])
    with_uss = rss_trends(rss_series(path, 1000, 1900), threshold=50, judged=True)
    assert [(t.basis, t.flagged) for t in with_uss] == [("uss", False)]
    assert abs(with_uss[0].growth_mb_per_hour) < 1

    rss_only = tmp_path / "rss-only.csv"
    rss_only.write_text(
        "\n".join(line.rsplit(",", 1)[0] for line in path.read_text().splitlines()) + "\n"
    )
    without = rss_trends(rss_series(rss_only, 1000, 1900), threshold=50, judged=True)
    assert [(t.basis, t.flagged) for t in without] == [("rss", False)]
    assert without[0].growth_mb_per_hour > 1000


@pytest.mark.parametrize("kind", get_args(FaultKind))
def test_every_fault_kind_has_its_own_code_and_reads_as_before(kind: FaultKind) -> None:
    reason = Fault(kind=kind, detail="pid 42 exit code 1", at_s=1.5).reason
    assert reason.code is VERDICTS[kind]
    assert reason.message == f"{kind}: pid 42 exit code 1"  # the wording faults always had
    assert reason.details == {"detail": "pid 42 exit code 1", "at_s": 1.5}
    assert len(set(VERDICTS.values())) == len(get_args(FaultKind))
