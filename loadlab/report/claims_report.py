"""One report over scenario runs, led by the table of the published claims they test."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from loadlab.core.errors import LabError
from loadlab.core.results import read_manifest, read_summary
from loadlab.report.build import build_report
from loadlab.report.claims import ScenarioRun, scenario_claims
from loadlab.report.map_charts import claims_forest_chart


def read_scenario_run(run_dir: Path) -> ScenarioRun:
    from loadlab.core.scenario import load_scenario

    for name in ("manifest.json", "summary.json"):
        if not (run_dir / name).is_file():
            raise LabError(f"{run_dir / name} is missing", hint="pass a finished scenario run")
    label = read_manifest(run_dir).config.get("scenario")
    if not label:
        raise LabError(
            f"{run_dir} is not a scenario run (its config names no scenario)",
            hint="run one with `loadlab run --scenario NAME`",
        )
    scenario = load_scenario(str(label).split("@", 1)[0])
    return ScenarioRun(str(label), scenario.claims, read_summary(run_dir), scenario.conditions)


def build_claims_report(
    run_dirs: Sequence[Path], out_root: Path = Path("reports"), name: str | None = None
) -> Path:
    if not run_dirs:
        raise LabError("no scenario run to report on", hint="run `loadlab claims --size tiny`")
    runs = [read_scenario_run(Path(d)) for d in run_dirs]
    found = scenario_claims(runs)
    forest = claims_forest_chart(found.rows)
    if forest is not None:
        found.charts.append(forest)
    final = build_report(
        list(run_dirs),
        out_root=out_root,
        name=name or f"claims-{runs[0].summary.run_id}",
        labels=[r.scenario for r in runs],
        kind="claims",
        scenario_claims=found,
    )
    # report.md links the forest plot as a file, next to the charts build_report wrote
    for chart in found.charts:
        (final / "charts").mkdir(exist_ok=True)
        (final / "charts" / chart.filename).write_text(chart.svg)
    return final
