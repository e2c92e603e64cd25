"""The regime map's report: `index.html` (self-contained) and `report.md` with the heatmaps,
the table of every grid point, the published claims placed on the map, and the topology and
core counts the map was measured on. Reads `map.json` only (`loadlab.core.regime`)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadlab import __version__
from loadlab.core.errors import LabError
from loadlab.core.regime import MapPoint, MapRatio, RegimeMap, read_map
from loadlab.report.build import _NAME, ReportMeta, ReportRun, _jinja, write_index
from loadlab.report.claims import Claim, load_claims, verdict
from loadlab.report.map_charts import claim_numbers, map_charts, placed_claims

RUN_FILES = ("manifest.json", "summary.json", "config.json", "verification.json")
SUPPORT = {"consistent": "consistent", "higher": "lab higher", "lower": "lab lower"}


@dataclass
class GridRow:
    family: str
    family_label: str
    x: float
    y: float
    point: MapPoint | None

    def ratio(self, flask_variant: str) -> MapRatio | None:
        return self.point.ratios.get(flask_variant) if self.point else None


@dataclass
class ClaimPlacement:
    number: int
    claim: Claim
    panel: str  # the family label, or why it is not on the map
    where: str
    ratio: MapRatio | None
    verdict: str
    line: str


def ratio_text(r: MapRatio | None) -> str:
    if r is None:
        return "—"
    return f"{'≈ ' if r.touches_parity else ''}{r.median:.2f}×"


def interval_text(r: MapRatio | None) -> str:
    if r is None:
        return ""
    return f"{r.ci_low:.2f}–{r.ci_high:.2f}" if r.has_ci else f"one repeat (n={r.n}), no interval"


def marks_text(r: MapRatio | None, machine_counts: bool = True) -> str:
    if r is None:
        return "not measured"
    marks = []
    if r.flagged:
        marks.append("load generator saturated" if r.loadgen_saturated else "invalid cell")
    if r.machine_saturated:
        marks.append("machine saturated" + ("" if machine_counts else " (coloured anyway)"))
    if r.touches_parity:
        marks.append("interval holds 1x")
    return "; ".join(marks)


def grid_rows(regime: RegimeMap) -> list[GridRow]:
    return [
        GridRow(f.name, f.label, x, y, regime.point(f.name, x, y))
        for f in regime.families
        for y in regime.y.values
        for x in regime.x.values
    ]


def _where(regime: RegimeMap, x: float, y: float) -> str:
    return f"{regime.x.describe(x)} × {regime.y.describe(y)}"


def claim_placements(regime: RegimeMap, claims: list[Claim]) -> list[ClaimPlacement]:
    placed = placed_claims(regime, claims)
    numbers = claim_numbers(placed)
    labels = {f.name: f.label for f in regime.families}
    found = []
    for claim, family in placed:
        assert claim.map_x is not None and claim.map_y is not None
        where = _where(regime, claim.map_x, claim.map_y)
        point = regime.point(family, claim.map_x, claim.map_y) if family else None
        ratio = point.ratios.get(claim.flask_variant) if point else None
        if family is None:
            panel, result = "its panel was not run at this size", "not measured"
            line = "this map did not run the panel it sits on"
        elif ratio is None:
            panel, result = labels[family], "not measured"
            line = "the point lies off the grid this map ran"
        else:
            panel = labels[family]
            if ratio.has_ci:
                result = verdict(claim.ratio_low, claim.ratio_high, ratio.ci_low, ratio.ci_high)
                relation = {"consistent": "overlaps", "higher": "above", "lower": "below"}[result]
                line = (
                    f"{ratio.median:.2f}× (CI {ratio.ci_low:.2f}–{ratio.ci_high:.2f}) "
                    f"{relation} the published {claim.range_text}"
                )
            else:
                result = "one repeat"
                line = f"{ratio.median:.2f}× from one repeat: no interval to judge it by"
            if ratio.marked():
                line += f" (marked: {marks_text(ratio)})"
        found.append(
            ClaimPlacement(numbers[claim.id], claim, panel, where, ratio, str(result), line)
        )
    return found


def findings(regime: RegimeMap, machine_counts: bool = True) -> list[str]:
    """Plain sentences: where the ratio reached 2x and 7x, and where it was no different.
    `**bold**` marks the figures."""
    lines = []
    labels = {f.name: f.label.split(":")[0] for f in regime.families}

    def at(p: MapPoint) -> str:
        return f"{labels[p.family]} {regime.x.describe(p.x)} × {regime.y.describe(p.y)}"

    for flask in regime.flask_variants:
        measured = [(p, p.ratios[flask]) for p in regime.points if flask in p.ratios]
        if not measured:
            continue
        sound = [(p, r) for p, r in measured if not r.marked(machine_counts)]
        over = f"Over **{flask}**"
        if len(sound) < len(measured):
            lines.append(
                f"{over}: {len(measured) - len(sound)} of {len(measured)} grid points are marked "
                "(saturated or invalid) and left out of the colours, the contours and what follows."
            )
        if not sound:
            continue
        for threshold in (2.0, 7.0):
            hits = [f"{at(p)} ({r.median:.2f}×)" for p, r in sound if r.median >= threshold]
            if hits:
                more = f"; and {len(hits) - 6} more" if len(hits) > 6 else ""
                lines.append(
                    f"{over} the ratio reached **{threshold:g}x** at {len(hits)} of {len(sound)} "
                    f"points: {'; '.join(hits[:6])}{more}."
                )
            else:
                best_p, best_r = max(sound, key=lambda item: item[1].median)
                lines.append(
                    f"{over} the ratio never reached **{threshold:g}x**; the highest was "
                    f"{best_r.median:.2f}× at {at(best_p)}."
                )
        parity = [p for p, r in sound if r.touches_parity]
        if parity:
            lines.append(
                f"{over} the interval holds 1x at {len(parity)} point(s): no difference shown "
                f"({'; '.join(at(p) for p in parity[:4])}{'…' if len(parity) > 4 else ''})."
            )
    return lines


def cpu_summary(regime: RegimeMap) -> str:
    parts = []
    if regime.cpu_count:
        cores = f" ({regime.cpu_count_physical} cores)" if regime.cpu_count_physical else ""
        parts.append(f"{regime.cpu_count} CPUs{cores}")
    if regime.cpu_model:
        parts.append(regime.cpu_model)
    return ", ".join(parts) or "CPU count not recorded"


def topology_summary(regime: RegimeMap) -> str:
    """One line: which host ran what, and how many app and Locust workers."""
    topo = regime.topology
    hosts = topo.get("hosts")
    parts = []
    if isinstance(hosts, dict):
        for host, roles in hosts.items():
            roles_text = ", ".join(roles) if isinstance(roles, list) else str(roles)
            parts.append(f"{host}: {roles_text}")
    for key in ("app_workers", "locust_workers"):
        if key in topo:
            parts.append(f"{key.replace('_', ' ')} {topo[key]}")
    cpusets = {k: v for r in regime.runs[:1] for k, v in r.cpusets.items()}
    if cpusets:
        parts.append("CPU sets " + ", ".join(f"{k}={v}" for k, v in cpusets.items()))
    elif isinstance(hosts, dict) and len(hosts) == 1:
        parts.append("co-located, no CPU pinning")
    return "; ".join(parts) or "topology not recorded"


def _copy_runs(regime: RegimeMap, map_dir: Path, dest: Path) -> dict[str, str]:
    """Each run's top-level JSON files into dest/runs/<run-id>/; run id -> relative path."""
    paths = {}
    for run in regime.runs:
        source = (map_dir / run.path).resolve()
        target = dest / "runs" / run.run_id
        target.mkdir(parents=True, exist_ok=True)
        for name in RUN_FILES:
            if (source / name).is_file():
                shutil.copyfile(source / name, target / name)
        paths[run.run_id] = f"runs/{run.run_id}"
    return paths


def build_map_report(
    map_dir: Path,
    out_dir: Path | None = None,
    *,
    publish: bool = False,
    claims: list[Claim] | None = None,
    machine_counts: bool = True,
) -> Path:
    """Write the map report (default `results/<map-id>/report/`) and return its folder. With
    `publish`, the folder also carries `map.json`, each run's JSON files and `report.json`,
    and its parent's `index.html` lists it (as for every report under reports/)."""
    map_dir = Path(map_dir)
    regime = read_map(map_dir)
    out_dir = Path(out_dir) if out_dir is not None else map_dir / "report"
    if publish and not _NAME.match(out_dir.name):
        raise LabError(
            f"report name {out_dir.name!r} is not a plain folder name",
            hint="use letters, digits, . _ - (e.g. regime-map-2026-12-01)",
        )
    claims = claims if claims is not None else load_claims()
    charts = map_charts(regime, claims, machine_counts=machine_counts)
    built = datetime.now(UTC).replace(microsecond=0).isoformat()
    title = f"Where 2x and 7x appear: {regime.title}"
    answer = findings(regime, machine_counts)
    command = regime.command or f"loadlab map --preset {regime.preset} --size {regime.size}"
    context: dict[str, Any] = {
        "title": title,
        "regime": regime,
        "charts": charts,
        "rows": grid_rows(regime),
        "placements": claim_placements(regime, claims),
        "answer": answer,
        "cpu_summary": cpu_summary(regime),
        "topology_summary": topology_summary(regime),
        "machine_counts": machine_counts,
        "ratio_text": ratio_text,
        "interval_text": interval_text,
        "marks_text": lambda r: marks_text(r, machine_counts),
        "command": command,
        "built": built,
        "version": __version__,
        "published": publish,
    }
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        run_paths = _copy_runs(regime, map_dir, tmp) if publish else {}
        if publish:
            for name in ("map.json", "plan.json"):
                if (map_dir / name).is_file():
                    shutil.copyfile(map_dir / name, tmp / name)
        context["run_paths"] = run_paths
        (tmp / "charts").mkdir()
        for chart in charts:
            (tmp / "charts" / chart.filename).write_text(chart.svg)
        env = _jinja()
        (tmp / "index.html").write_text(env.get_template("map.html.j2").render(**context))
        (tmp / "report.md").write_text(env.get_template("map.md.j2").render(**context))
        if publish:
            meta = ReportMeta(
                name=out_dir.name,
                kind="map",
                title=title,
                built=built,
                loadlab_version=__version__,
                runs=[
                    ReportRun(
                        run_id=r.run_id,
                        label=f"{regime.preset} map · {r.run_id}",
                        path=run_paths[r.run_id],
                        backend=r.backend,
                        started=r.started,
                        finished=r.finished,
                        host=r.host or r.backend,
                        command=command,
                    )
                    for r in regime.runs
                ],
                answer=[line for line in answer if "reached" in line][:4],
            )
            (tmp / "report.json").write_text(meta.model_dump_json(indent=2) + "\n")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(tmp, out_dir)
        out_dir.chmod(0o755)  # mkdtemp made it private; a report is world-readable
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if publish:
        write_index(out_dir.parent)
    return out_dir


def default_publish_name(regime: RegimeMap) -> str:
    day = (regime.created or datetime.now(UTC).isoformat())[:10]
    return f"regime-map-{regime.preset}-{day}"
