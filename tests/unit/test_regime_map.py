"""The regime map's logic without servers: presets and sizes into run configurations, ratios
read into grid points with their flags, and `map.json` assembled from (fake) runs."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from loadlab.core.errors import LabError
from loadlab.core.results import (
    CellResult,
    CellSpec,
    Estimate,
    Latency,
    LoadLevel,
    Manifest,
    Ratio,
    Summary,
    Validity,
    write_json_atomic,
)
from loadlab.orchestration.regime_map import (
    PRESETS,
    MapPlan,
    RegimeMap,
    extract_points,
    plan_map,
    read_map,
    refresh_map,
    run_map,
)

REPO = Path(__file__).resolve().parents[2]
SATURATED = "machine CPU saturated: 99% of 2 cores on average; the app, database and load generator competed"


def cell(
    variant: str,
    workload: str,
    users: int = 16,
    rtt: float | None = None,
    warnings: tuple[str, ...] = (),
    reasons: tuple[str, ...] = (),
) -> CellResult:
    spec = CellSpec(
        cell_id=f"001-{variant}-{workload}-closed-{users}u-r1",
        order=1,
        variant=variant,
        workload=workload,
        load=LoadLevel(model="closed", users=users),
        repeat=1,
        duration_s=1.0,
        warmup_s=0.0,
        db_rtt_ms=rtt,
    )
    return CellResult(
        spec=spec,
        requests=100,
        errors=0,
        error_rate=0.0,
        measured_s=1.0,
        throughput_rps=100.0,
        latency=Latency(),
        validity=Validity(valid=not reasons, reasons=list(reasons), warnings=list(warnings)),
    )


def ratio(
    workload: str,
    denominator: str,
    median: float,
    low: float | None = None,
    high: float | None = None,
    *,
    users: int = 16,
    rtt: float | None = None,
    numerator: str = "fastapi-async",
    n: int = 3,
    reasons: tuple[str, ...] = (),
    basis: str = "throughput",
) -> Ratio:
    return Ratio(
        workload=workload,
        load_label=f"closed-{users}u",
        numerator=numerator,
        denominator=denominator,
        basis=basis,  # type: ignore[arg-type]
        estimate=Estimate(
            median=median,
            ci_low=median if low is None else low,
            ci_high=median if high is None else high,
            n=n,
        ),
        flagged=bool(reasons),
        flag_reasons=list(reasons),
        db_rtt_ms=rtt,
    )


# ---------------------------------------------------------------- planning


def test_the_wait_preset_in_full_is_the_grid_as_written() -> None:
    plan = plan_map("wait", "full")
    [cfg] = plan.configs
    assert plan.x.values == [0, 1, 5, 20, 50] and plan.y.values == [16, 64, 256]
    assert cfg.variants == ["fastapi-async", "flask-gevent", "flask-sync"]
    assert cfg.workloads == [
        *(f"pg-sleep-{n}" for n in (0, 1, 5, 20, 50)),
        *(f"io-{n}" for n in (0, 1, 5, 20, 50)),
    ]  # N = 0 and N = 1 are workloads like any other
    assert [(lv.model, lv.users) for lv in cfg.loads] == [("closed", u) for u in (16, 64, 256)]
    assert cfg.network is None and cfg.repeats == 3
    assert plan.cells == 3 * 10 * 3 * 3


def test_the_rtt_preset_sweeps_the_emulated_round_trip() -> None:
    plan = plan_map("rtt", "full")
    [cfg] = plan.configs
    assert cfg.network is not None and cfg.network.db_rtt_ms == [0, 0.5, 1, 2, 5]
    assert cfg.workloads == ["queries-1", "queries-5", "queries-20"]
    assert [lv.users for lv in cfg.loads] == [64]
    assert plan.cells == 3 * 3 * 5 * 3


def test_tiny_is_two_values_by_one_on_the_first_panel() -> None:
    plan = plan_map("wait", "tiny")
    [cfg] = plan.configs
    assert [f.name for f in plan.families] == ["pg-sleep"]
    assert cfg.workloads == ["pg-sleep-0", "pg-sleep-50"]
    assert [lv.users for lv in cfg.loads] == [16]
    assert (cfg.repeats, cfg.scale, cfg.duration_s + cfg.warmup_s) == (1, 0.002, 2.0)
    small = plan_map("rtt", "small")
    assert small.x.values == [0, 1, 5] and small.y.values == [1, 20]


def test_options_pass_through_to_the_run_configuration() -> None:
    [cfg] = plan_map("wait", "tiny", profile="tuned", repeats=4).configs
    assert cfg.repeats == 4
    assert getattr(cfg, "profile", "tuned") == "tuned"
    [cfg] = plan_map("wait", "tiny", precision=0.05, budget_s=600).configs
    assert getattr(cfg, "precision", 0.05) == 0.05
    assert plan_map("wait", "tiny", backend="compose").configs[0].backend == "compose"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"preset": "latency"}, "unknown map preset 'latency'; known presets: wait, rtt"),
        ({"preset": "wait", "size": "huge"}, "unknown map size 'huge'; known sizes: tiny"),
        ({"preset": "rtt", "backend": "compose"}, "which the compose backend cannot set up"),
        ({"preset": "rtt", "backend": "ansible"}, "which the ansible backend cannot set up"),
        ({"preset": "wait", "profile": "both"}, "a map is drawn from one profile"),
    ],
)
def test_bad_input_is_a_lab_error_with_a_fix(kwargs: dict[str, str], expected: str) -> None:
    with pytest.raises(LabError) as caught:
        plan_map(**kwargs)
    assert expected in str(caught.value)
    assert caught.value.hint


def test_the_command_refuses_an_unknown_preset(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "loadlab.cli.app", "map", "--preset", "nope"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={"LOADLAB_RESULTS": str(tmp_path / "results"), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown map preset 'nope'" in done.stderr and "fix:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()


# ---------------------------------------------------------------- ratios into points


def wait_summary() -> Summary:
    cells = [
        cell(v, w, u, warnings=(SATURATED,) if (w, u) == ("io-0", 256) else ())
        for v in ("fastapi-async", "flask-gevent", "flask-sync")
        for w in ("pg-sleep-0", "pg-sleep-50", "io-0")
        for u in (16, 256)
    ]
    ratios = [
        ratio("pg-sleep-0", "flask-gevent", 1.1, 0.9, 1.3),  # holds 1x
        ratio("pg-sleep-0", "flask-sync", 1.5, 1.3, 1.8),
        ratio("pg-sleep-50", "flask-sync", 3.9, 3.5, 4.2, users=256),
        ratio("io-0", "flask-sync", 2.2, 2.0, 2.4, users=256),  # machine saturated
        ratio(
            "pg-sleep-50",
            "flask-gevent",
            2.5,
            2.0,
            3.0,
            users=256,
            reasons=("003-x: load generator saturated: a locust-worker process averaged 97%",),
        ),
        ratio("pg-sleep-0", "flask-sync", 1.2, numerator="fastapi-sync"),  # other numerator
        ratio("pg-sleep-0", "fastapi-sync", 1.2),  # not a Flask denominator
        ratio("pg-sleep-0", "flask-sync", 9.0, basis="capacity"),  # not the throughput basis
        ratio("pg-sleep-20", "flask-sync", 2.0),  # off the grid
        ratio("json", "flask-sync", 5.0),  # not a parameterised workload
    ]
    return Summary(run_id="r1", backend="local", cells=cells, ratios=ratios)


def test_points_take_fastapi_async_over_each_flask_variant_on_the_grid() -> None:
    points = extract_points("wait", ["pg-sleep", "io"], [0, 50], [16, 256], wait_summary())
    where = {(p.family, p.x, p.y): p for p in points}
    assert set(where) == {("pg-sleep", 0, 16), ("pg-sleep", 50, 256), ("io", 0, 256)}
    low = where[("pg-sleep", 0, 16)]
    assert set(low.ratios) == {"flask-gevent", "flask-sync"}
    gevent, sync = low.ratios["flask-gevent"], low.ratios["flask-sync"]
    assert (gevent.median, gevent.ci_low, gevent.ci_high) == (1.1, 0.9, 1.3)
    assert gevent.touches_parity and not sync.touches_parity and sync.has_ci
    assert sync.median == 1.5  # not the capacity ratio, not fastapi-sync's
    assert not any(r.marked() for r in low.ratios.values())


def test_saturation_and_invalid_cells_mark_a_point() -> None:
    points = extract_points("wait", ["pg-sleep", "io"], [0, 50], [16, 256], wait_summary())
    where = {(p.family, p.x, p.y): p for p in points}
    io = where[("io", 0, 256)].ratios["flask-sync"]
    assert io.machine_saturated and not io.flagged and io.marked()
    assert not io.marked(machine_counts=False)
    assert any("machine CPU saturated" in r for r in io.reasons)
    loadgen = where[("pg-sleep", 50, 256)].ratios["flask-gevent"]
    assert loadgen.flagged and loadgen.loadgen_saturated and loadgen.marked(machine_counts=False)


def test_one_repeat_has_no_interval_and_never_touches_parity_by_accident() -> None:
    summary = Summary(
        run_id="r1", backend="local", ratios=[ratio("io-5", "flask-sync", 1.0, n=1)], cells=[]
    )
    [point] = extract_points("wait", ["io"], [5], [16], summary)
    only = point.ratios["flask-sync"]
    assert not only.has_ci and not only.touches_parity


def test_rtt_points_read_x_from_the_round_trip_and_y_from_the_queries() -> None:
    summary = Summary(
        run_id="r1",
        backend="local",
        ratios=[
            ratio("queries-5", "flask-gevent", 1.4, 1.2, 1.6, users=64, rtt=0.5),
            ratio("queries-20", "flask-gevent", 2.9, 2.5, 3.2, users=64, rtt=5.0),
            ratio("queries-5", "flask-gevent", 1.0, users=64),  # no emulated link: not a point
        ],
    )
    points = extract_points("rtt", ["queries"], [0, 0.5, 5], [1, 5, 20], summary)
    assert [(p.x, p.y, p.ratios["flask-gevent"].median) for p in points] == [
        (0.5, 5, 1.4),
        (5.0, 20, 2.9),
    ]


def test_the_grid_puts_medians_where_they_were_measured() -> None:
    plan = plan_map("wait", "small")
    points = extract_points("wait", ["pg-sleep", "io"], [0, 5, 50], [16, 256], wait_summary())
    regime = RegimeMap(
        map_id="m",
        preset="wait",
        title="t",
        description="d",
        size="small",
        created="",
        backend="local",
        families=plan.families,
        x=plan.x,
        y=plan.y,
        points=points,
    )
    xs, ys, medians, _ = regime.grid("pg-sleep", "flask-sync")
    assert (xs, ys) == ([0, 5, 50], [16, 256])
    assert medians[0][0] == 1.5 and medians[1][2] == 3.9
    assert math.isnan(medians[0][1]) and math.isnan(medians[1][0])
    _, _, io, io_marked = regime.grid("io", "flask-sync")
    assert (
        io[1][0] == 2.2 and io_marked[1][0] and not regime.grid("io", "flask-sync", False)[3][1][0]
    )


# ---------------------------------------------------------------- map.json from runs


def fake_run(root: Path, run_id: str, summary: Summary) -> Path:
    run_dir = root / run_id
    manifest = Manifest(
        run_id=run_id,
        loadlab_version="0",
        backend="local",
        started="2026-12-01T00:00:00Z",
        finished="2026-12-01T00:10:00Z",
        command="loadlab run",
        config={"repeats": 3, "workloads": ["pg-sleep-0"], "profile": "stock"},
        machine={"cpu_count": 8, "cpu_count_physical": 4, "cpu_model": "Test CPU"},
        topology={"backend": "local", "hosts": {"localhost": ["postgres", "app"]}},
    )
    write_json_atomic(run_dir / "manifest.json", manifest)
    write_json_atomic(run_dir / "summary.json", summary.model_copy(update={"run_id": run_id}))
    return run_dir


def test_run_map_writes_map_json_with_the_runs_topology_and_cores(tmp_path: Path) -> None:
    plan = plan_map("wait", "small")
    seen: list[tuple[object, Path]] = []

    def executor(cfg: object, root: Path) -> Path:
        seen.append((cfg, root))
        return fake_run(root, "20261201-000000-abcd", wait_summary())

    map_dir = run_map(plan, tmp_path / "results", executor, command="loadlab map --size small")
    assert map_dir.parent == tmp_path / "results" and map_dir.name.startswith("map-wait-")
    assert [root for _, root in seen] == [map_dir / "runs"]
    regime = read_map(map_dir)
    assert regime.preset == "wait" and regime.size == "small" and len(regime.points) == 3
    [run] = regime.runs
    assert run.path == "runs/20261201-000000-abcd" and run.repeats == 3
    assert (regime.cpu_count, regime.cpu_count_physical, regime.cpu_model) == (8, 4, "Test CPU")
    assert regime.topology["hosts"] == {"localhost": ["postgres", "app"]}
    assert any("were not measured" in c for c in regime.caveats)  # small has 12 points, 3 ran
    raw = json.loads((map_dir / "map.json").read_text())
    assert raw["schema_version"] == 1
    point = raw["points"][0]["ratios"]["flask-sync"]
    assert {"median", "ci_low", "ci_high", "flagged", "touches_parity"} <= set(point)
    assert MapPlan.model_validate_json((map_dir / "plan.json").read_text()) == plan


def test_refresh_rebuilds_from_the_runs_that_finished(tmp_path: Path) -> None:
    plan = plan_map("wait", "small")
    map_dir = run_map(
        plan, tmp_path, lambda cfg, root: fake_run(root, "20261201-000000-abcd", wait_summary())
    )
    (map_dir / "map.json").unlink()  # as if interrupted before the map was written
    regime = refresh_map(map_dir)
    assert len(regime.points) == 3 and (map_dir / "map.json").is_file()


def test_presets_place_zero_on_their_log_axes() -> None:
    for preset in PRESETS.values():
        positions = [preset.x.position(v) for v in preset.x.values]
        assert positions == sorted(positions) and all(math.isfinite(p) for p in positions)


def test_a_panel_the_tuned_profile_does_not_cover_is_said_to_run_stock() -> None:
    from loadlab.orchestration.regime_map import panel_profiles, profile_caveats

    def ran(variant: str, workload: str, profile: str) -> CellResult:
        made = cell(variant, workload)
        return made.model_copy(update={"spec": made.spec.model_copy(update={"profile": profile})})

    summary = Summary(
        run_id="r",
        backend="local",
        cells=[
            ran("fastapi-async", "io-5", "tuned"),
            ran("flask-sync", "io-5", "tuned"),
            ran("fastapi-async", "pg-sleep-5", "stock (no tuned entry)"),
            ran("flask-sync", "pg-sleep-5", "stock (no tuned entry)"),
            ran("fastapi-async", "queries-5", "tuned"),
            ran("flask-sync", "queries-5", "stock (no tuned entry)"),
        ],
    )
    profiles = panel_profiles(["pg-sleep", "io", "queries"], [summary])
    assert profiles["io"] == {"fastapi-async": ["tuned"], "flask-sync": ["tuned"]}
    assert profiles["pg-sleep"]["flask-sync"] == ["stock (no tuned entry)"]
    caveats = profile_caveats(profiles, "tuned")
    assert caveats == [
        "panel pg-sleep: every variant ran stock (no tuned entry), not the tuned profile, so "
        "this panel compares them as shipped",
        "panel queries: not every variant ran the tuned profile "
        "(flask-sync: stock (no tuned entry))",
    ]
    assert profile_caveats(profiles, "stock") != []  # io ran tuned in a map asked for stock
