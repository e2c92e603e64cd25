"""The regime map's pictures and report, from a synthetic `map.json`: contour lines at 1x, 2x
and 7x with labels, each published claim as a marker at its regime, marked (saturated or
invalid) cells not coloured, and the claims report's forest plot."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from loadlab.core.results import read_summary
from loadlab.orchestration.regime_map import (
    PRESETS,
    MapPoint,
    MapRatio,
    MapRun,
    RegimeMap,
    write_json_atomic,
)
from loadlab.report.claims import ScenarioRun, load_claims, scenario_claims
from loadlab.report.claims_report import build_claims_report
from loadlab.report.map_charts import (
    claims_forest_chart,
    crossings,
    heatmap_chart,
    interpolate,
    map_charts,
)
from loadlab.report.map_report import build_map_report
from tests.report.conftest import FIXTURE


def synthetic_map(
    preset: str = "wait", x_count: int | None = None, y_count: int | None = None
) -> RegimeMap:
    """A map whose ratio grows with both axes from 0.6x to about 13x: every contour crosses."""
    p = PRESETS[preset]
    x, y = p.x.pick(x_count), p.y.pick(y_count)
    points = []
    for family in p.families:
        for yv in y.values:
            for xv in x.values:
                ratios = {}
                for flask in ("flask-gevent", "flask-sync"):
                    if preset == "wait":
                        median = 0.6 * (1 + xv) ** 0.5 * (yv / 16) ** 0.4
                    else:
                        median = 0.8 + 0.5 * xv * yv / 10
                    low, high = median * 0.85, median * 1.15
                    ratios[flask] = MapRatio(
                        flask_variant=flask,
                        median=median,
                        ci_low=low,
                        ci_high=high,
                        n=3,
                        has_ci=True,
                        touches_parity=low <= 1 <= high,
                        flagged=flask == "flask-sync" and (xv, yv) == (x.values[-1], y.values[0]),
                        loadgen_saturated=flask == "flask-sync"
                        and (xv, yv) == (x.values[-1], y.values[0]),
                        machine_saturated=(xv, yv) == (x.values[0], y.values[-1]),
                    )
                points.append(
                    MapPoint(
                        family=family.name,
                        x=xv,
                        y=yv,
                        workload=f"{family.name}-{xv:g}",
                        load_label=f"closed-{yv:g}u",
                        run_id="20261201-000000-abcd",
                        ratios=ratios,
                    )
                )
    return RegimeMap(
        map_id=f"map-{preset}-test",
        preset=p.name,
        title=p.title,
        description=p.description,
        size="full",
        created="2026-12-01T00:00:00Z",
        backend="local",
        families=p.families,
        x=x,
        y=y,
        points=points,
        topology={"backend": "local", "hosts": {"localhost": ["postgres", "app", "locust"]}},
        cpu_count=2,
        cpu_count_physical=2,
        cpu_model="Test CPU",
    )


def ids(svg: str) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', svg))


def test_interpolation_masks_what_it_cannot_trust() -> None:
    logz = np.log(np.array([[1.0, 2.0, 4.0], [2.0, np.nan, 8.0]]))
    mx, my, z = interpolate([0, 1, 2], [0, 1], logz, refine=5)
    assert mx.shape == my.shape == z.shape == (5, 5)
    assert math.isclose(float(z[0, 0]), 0.0) and math.isclose(float(z[0, -1]), math.log(4))
    assert z.mask[-1, 2]  # the NaN node
    assert not z.mask[0, 0]
    assert crossings([0, 1, 2], list(np.log([1.0, 2.0, 8.0])), math.log(2)) == [1.0]
    assert crossings([0, 1], [math.nan, 1.0], 0.5) == []


def test_the_heatmap_has_contour_labels_and_claim_markers(tmp_path: Path) -> None:
    regime = synthetic_map("wait")
    claims = load_claims()
    chart = heatmap_chart(regime, "flask-sync", claims)
    (tmp_path / chart.filename).write_text(chart.svg)
    svg = (tmp_path / chart.filename).read_text()
    found = ids(svg)
    assert {"contour-label-1x", "contour-label-2x", "contour-label-7x"} <= found
    wait_claims = {c.id for c in claims if c.map_preset == "wait"}
    assert {"tech-insider-2026", "bilouro-pg-sleep", "strapi-2025"} <= wait_claims
    assert {f"claim-{c}" for c in wait_claims} <= found
    assert "claims-legend" in found
    assert ">1×<" in svg or "1×" in svg
    # marked cells are labelled, not coloured; an interval holding 1x is marked ≈
    assert "machine saturated" in svg and "load gen. saturated" in svg
    assert "≈" in svg
    assert chart.svg.startswith("<?xml") and "<svg" in chart.inline()


def test_one_row_still_draws_where_the_ratio_crosses(tmp_path: Path) -> None:
    regime = synthetic_map("rtt", x_count=5, y_count=1)  # queries 1: 0.8x .. 1.05x
    regime = regime.model_copy(
        update={
            "points": [
                p.model_copy(
                    update={
                        "ratios": {
                            k: r.model_copy(update={"machine_saturated": False, "flagged": False})
                            for k, r in p.ratios.items()
                        }
                    }
                )
                for p in regime.points
            ]
        }
    )
    chart = heatmap_chart(regime, "flask-gevent", load_claims())
    assert "contour-label-1x" in ids(chart.svg)
    assert "claim-manjusaka-2024" in ids(chart.svg)


def test_charts_per_flask_variant_share_one_scale() -> None:
    charts = map_charts(synthetic_map("rtt"), load_claims())
    assert [c.slug for c in charts] == ["map-rtt-flask-gevent", "map-rtt-flask-sync"]
    for chart in charts:
        found = ids(chart.svg)
        assert {"claim-cal-paterson-2020", "claim-grinberg", "claim-manjusaka-retold"} <= found
        assert {"contour-label-1x", "contour-label-2x"} <= found


def test_the_forest_plot_draws_a_band_per_claim_and_the_lab_interval() -> None:
    summary = read_summary(FIXTURE)
    found = scenario_claims(
        [ScenarioRun("techempower@1", ["xpertlab-2026", "cal-paterson-2020", "grinberg"], summary)]
    )
    chart = claims_forest_chart(found.rows)
    assert chart is not None and chart.slug == "claims-forest"
    assert {"forest-xpertlab-2026-0", "forest-cal-paterson-2020-1", "forest-grinberg-2"} <= ids(
        chart.svg
    )
    assert "xpertlab-2026" in chart.svg and "supported" in chart.svg
    assert claims_forest_chart([]) is None


@pytest.fixture(scope="module")
def map_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("results") / "map-wait-test"
    regime = synthetic_map("wait", x_count=3, y_count=2)
    run = root / "runs" / "20261201-000000-abcd"
    shutil.copytree(FIXTURE, run)
    regime.runs = [MapRun(run_id=run.name, path=f"runs/{run.name}", backend="local")]
    write_json_atomic(root / "map.json", regime)
    return root


def test_the_map_report_states_table_charts_topology_and_cores(map_dir: Path) -> None:
    report = build_map_report(map_dir)
    assert report == map_dir / "report"
    html = (report / "index.html").read_text()
    markdown = (report / "report.md").read_text()
    assert html.count("<svg") == 2 and "http" not in re.sub(r'(xmlns|href)="[^"]*"', "", html)
    assert "Measured on:" in html and "2 CPUs (2 cores), Test CPU" in html
    assert "localhost: postgres, app, locust" in markdown
    assert "![fastapi-async over flask-sync](charts/map-wait-flask-sync.svg)" in markdown
    assert (report / "charts" / "map-wait-flask-sync.svg").is_file()
    rows = [line for line in markdown.splitlines() if line.startswith("| pg-sleep |")]
    assert len(rows) == 6  # 3 waits x 2 concurrencies
    assert "| pg-sleep | 0 | 16 | 0.60× | 0.51–0.69 |" in markdown
    assert 'data-claim="bilouro-pg-sleep"' in html
    # a claim on a grid point gets a verdict from the map's interval there
    [line] = [row for row in markdown.splitlines() if "(tech-insider-2026)" in row]
    assert "**higher**" in line  # 13x (CI 11.1–15.0) against the published 6.3–7.7
    assert "reached **2x**" in markdown


def test_publishing_writes_a_listed_self_contained_folder(map_dir: Path, tmp_path: Path) -> None:
    dest = build_map_report(map_dir, tmp_path / "reports" / "regime-map-test", publish=True)
    assert {p.name for p in dest.iterdir()} >= {"index.html", "report.md", "map.json", "charts"}
    assert (dest / "runs" / "20261201-000000-abcd" / "manifest.json").is_file()
    meta = json.loads((dest / "report.json").read_text())
    assert meta["kind"] == "map" and meta["name"] == "regime-map-test"
    assert "regime-map-test/index.html" in (tmp_path / "reports" / "index.html").read_text()


def test_the_claims_report_carries_the_forest_plot(tmp_path: Path) -> None:
    run = tmp_path / "results" / "run-a"
    shutil.copytree(FIXTURE, run)
    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["scenario"] = "techempower@1"
    (run / "manifest.json").write_text(json.dumps(manifest))
    report = build_claims_report([run], out_root=tmp_path / "reports", name="claims")
    html = (report / "index.html").read_text()
    markdown = (report / "report.md").read_text()
    assert 'id="chart-claims-forest"' in html and "forest-grinberg-" in html
    assert "(charts/claims-forest.svg)" in markdown
    assert (report / "charts" / "claims-forest.svg").is_file()
    first = re.search(r"^## (.+)$", markdown, re.M)
    assert first is not None and first[1] == "Claims tested by the scenarios"
