"""Build `reports/<name>/`: index.html (self-contained), report.md, charts, raw data copies."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field

from loadlab import __version__
from loadlab.core.errors import LabError
from loadlab.report import charts as ch
from loadlab.report.claims import Claim, ClaimCheck, ScenarioClaims, check_claims, load_claims
from loadlab.report.compare import Comparison, compare_runs, has_ci, is_volatile
from loadlab.report.runs import Run, load_runs, split_by_rtt
from loadlab.report.tables import (
    ENVIRONMENT_SECTIONS,
    KEY_PACKAGES,
    LoadModel,
    ValidityReport,
    WorkloadHeadline,
    answer_sentences,
    flatten_manifest,
    fmt_bytes,
    fmt_ms,
    fmt_ratio,
    fmt_rps,
    fmt_value,
    headlines,
    key_packages,
    load_model,
    pretty_key,
    validity,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"  # package data
RAW_SUFFIXES = {".csv", ".json", ".hdr"}
ReportKind = Literal["report", "reproduction", "claims"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class ReportRun(BaseModel):
    model_config = ConfigDict(extra="ignore")

    run_id: str
    label: str
    path: str = Field(description="the run's raw data, relative to the report folder")
    backend: str
    preset: str | None = None
    started: str = ""
    finished: str | None = None
    host: str = ""
    command: str = ""


class ReportMeta(BaseModel):
    """`report.json`: what a report was built from, read by `write_index` and `reproduce`."""

    model_config = ConfigDict(extra="ignore")

    name: str
    kind: str = "report"
    title: str
    built: str
    loadlab_version: str
    runs: list[ReportRun]
    answer: list[str] = Field(default_factory=list)


@dataclass
class RunView:
    run: Run
    slug: str
    data_path: str
    heads: list[WorkloadHeadline]
    answer: list[str]
    claims: list[ClaimCheck]
    validity: ValidityReport
    load_model: LoadModel
    charts: list[ch.Chart] = field(default_factory=list)
    cpu_charts: list[ch.Chart] = field(default_factory=list)
    environment: list[tuple[str, list[tuple[str, str]]]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.run.label

    @property
    def manifest(self):
        return self.run.manifest

    @property
    def summary(self):
        return self.run.summary


# ---------------------------------------------------------------- assembling


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-") or "run"


def default_name(runs: Sequence[Run]) -> str:
    if len(runs) == 1:
        return _slug(runs[0].run_id)
    return _slug("compare-" + "-vs-".join(r.run_id for r in runs))


def _host(run: Run) -> str:
    m = run.manifest.machine
    return str(m.get("hostname") or m.get("host") or run.manifest.backend)


def _cpu_summary(run: Run) -> str:
    m = run.manifest.machine
    logical = m.get("cpu_count_logical") or m.get("cpu_count") or m.get("cpus")
    physical = m.get("cpu_count_physical") or m.get("cores")
    model = m.get("cpu_model") or m.get("processor") or ""
    parts = []
    if logical:
        parts.append(f"{logical} CPUs" + (f" ({physical} cores)" if physical else ""))
    if model:
        parts.append(str(model))
    return ", ".join(parts)


def _environment(run: Run) -> list[tuple[str, list[tuple[str, str]]]]:
    m = run.manifest
    machine = []
    for key, value in m.machine.items():
        if key.endswith("_bytes") and isinstance(value, int | float):
            machine.append((pretty_key(key.removesuffix("_bytes")), fmt_bytes(float(value))))
        else:
            machine.append((pretty_key(key), fmt_value(value)))
    run_rows = [
        ("run id", m.run_id),
        ("backend", m.backend),
        ("preset", m.preset or "—"),
        ("started", m.started),
        ("finished", m.finished or "—"),
        (
            "loadlab",
            m.loadlab_version
            + (f" @ {m.git_sha[:12]}" if m.git_sha else "")
            + (" (uncommitted changes)" if m.git_dirty else ""),
        ),
        ("python", m.python or "—"),
    ]
    invocation = getattr(m, "invocation", None) or (m.model_extra or {}).get("invocation")
    if invocation:
        run_rows.append(("invoked as", str(invocation)))
    topology = [
        (pretty_key(k.removeprefix("topology.")), v)
        for k, v in flatten_manifest(m, ("topology",)).items()
    ]
    topology += [(f"cpuset {k}", v) for k, v in m.cpusets.items()]
    postgres = list(flatten_manifest(m, ("postgres",)).items())
    postgres = [(k.removeprefix("postgres.").removeprefix("settings."), v) for k, v in postgres]
    data = [
        (pretty_key(k.removeprefix("data.")), v) for k, v in flatten_manifest(m, ("data",)).items()
    ]
    packages = key_packages(m.packages)
    sections = [
        ("Run", run_rows),
        ("Machine", machine),
        ("Topology", topology),
        ("PostgreSQL", postgres),
        ("Data", data),
        ("Packages", packages),
    ]
    return [(title, rows) for title, rows in sections if rows]


def _shown_path(path: Path) -> str:
    """A path as a user types it: relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def rerun_command(run: Run, report_ref: str, data_path: str) -> str:
    """The manifest's command, pointed at this report's copy of the run's files."""
    here = f"{report_ref}/" + ("" if data_path == "." else f"{data_path}/")
    return run.manifest.command.replace(f"results/{run.run_id}/", here)


def _side_by_side(runs: Sequence[Run]) -> list[tuple[str, list[str], bool]]:
    """Every environment field of the runs, one column each; other packages only if they differ."""
    flat = [flatten_manifest(r.manifest, ENVIRONMENT_SECTIONS) for r in runs]
    keys: list[str] = []
    for f in flat:
        keys += [k for k in f if k not in keys]
    key_names = {f"packages.{name}" for name in KEY_PACKAGES}
    rows = []
    for k in keys:
        values = [f.get(k, "—") for f in flat]
        differs = len(set(values)) > 1
        if k.startswith("packages.") and k.lower() not in key_names and not differs:
            continue
        if is_volatile(k):
            continue
        rows.append((k, values, differs))
    return rows


def _assemble(runs: list[Run], claims: list[Claim]) -> list[RunView]:
    views = []
    used: set[str] = set()
    for i, run in enumerate(runs):
        slug = _slug(run.run_id + ("" if run.db_rtt_ms is None else f"-rtt{run.db_rtt_ms:g}ms"))
        while slug in used:
            slug += "-b"
        used.add(slug)
        heads = headlines(run)
        prefix = f"r{i + 1}-" if len(runs) > 1 else ""
        view = RunView(
            run=run,
            slug=slug,
            data_path="." if len(runs) == 1 else f"runs/{slug}",
            heads=heads,
            answer=answer_sentences(run, heads),
            claims=check_claims(run.summary, claims),
            validity=validity(run),
            load_model=load_model(run),
        )
        for make, name in (
            (ch.throughput_chart, "throughput"),
            (ch.capacity_chart, "capacity"),
            (ch.latency_chart, "latency"),
            (ch.ratio_chart, "ratios"),
        ):
            chart = make(run, f"{prefix}{name}")
            if chart is not None:
                view.charts.append(chart)
        view.cpu_charts = ch.cpu_charts(run, f"{prefix}cpu")
        view.environment = _environment(run)
        views.append(view)
    return views


def _copy_raw(run: Run, dest: Path) -> None:
    """The run's top-level JSON files and each cell's small raw files (not the logs)."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(run.path.glob("*.json")):  # manifest, summary, config, verification
        shutil.copyfile(f, dest / f.name)
    cells = run.path / "cells"
    if not cells.is_dir():
        return
    # one RTT's share of a sweep carries its own cells only, not the whole sweep's again
    keep = {c.spec.cell_id for c in run.summary.cells} if run.db_rtt_ms is not None else None
    for cell in sorted(p for p in cells.iterdir() if p.is_dir()):
        if keep is not None and cell.name not in keep:
            continue
        for f in sorted(cell.iterdir()):
            if f.is_file() and f.suffix in RAW_SUFFIXES:
                target = dest / "cells" / cell.name / f.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)


def _strong(text: str) -> Markup:
    """`**figure**` -> <strong>figure</strong>, everything else escaped."""
    escaped = str(escape(text))
    return Markup(re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped))


def _jinja() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.do"],
    )
    env.filters.update(
        rps=fmt_rps,
        ms=fmt_ms,
        ratio=fmt_ratio,
        pct=lambda v: f"{v:+.1%}" if math.isfinite(v) else "—",
        md=lambda v: str(v).replace("|", "\\|").replace("\n", " "),
        nolink=lambda url: re.sub(r"^[a-z]+://", "", url),
        strong=_strong,
        ci_range=lambda e: f"{e.ci_low:.2f}–{e.ci_high:.2f}" if has_ci(e) else "no CI (one repeat)",
    )
    return env


def _title(views: list[RunView], kind: ReportKind) -> str:
    if kind == "reproduction":
        return f"Re-run of {views[0].run.run_id}"
    if kind == "claims":
        return "Published Flask vs FastAPI claims, measured on this machine"
    if len(views) == 1:
        return "FastAPI vs Flask on PostgreSQL"
    return f"FastAPI vs Flask on PostgreSQL: {len(views)} runs side by side"


def _index_lines(
    views: list[RunView], comparisons: list[Comparison], kind: ReportKind
) -> list[str]:
    """What `reports/index.html` says about a report: its answer, or how a re-run went."""
    if kind == "reproduction" and comparisons:
        cmp = comparisons[0]
        counts = cmp.counts
        line = (
            f"**{counts['reproduced']} of {len(cmp.ratios)}** ratios reproduced within the "
            "original's 95% CI"
        )
        moved = [f"{n} {k}" for k, n in counts.items() if n and k != "reproduced"]
        return [line + (f"; {', '.join(moved)}." if moved else "."), *views[-1].answer]
    return views[0].answer


def build_report(
    run_dirs: Sequence[Path],
    out_root: Path = Path("reports"),
    name: str | None = None,
    *,
    labels: Sequence[str] | None = None,
    kind: ReportKind = "report",
    claims_path: Path | None = None,
    scenario_claims: ScenarioClaims | None = None,
) -> Path:
    """Write `out_root/<name>/` from one or more run folders and return that folder.

    With several runs the report sets them side by side; the first is the reference the
    others are compared against. `out_root/index.html` is refreshed to list the report.
    """
    loaded = load_runs([Path(p) for p in run_dirs], labels)
    name = name or default_name(loaded)
    runs = [part for run in loaded for part in split_by_rtt(run)]
    if not _NAME.match(name):
        raise LabError(
            f"report name {name!r} is not a plain folder name", hint="use letters, digits, . _ -"
        )
    claims = load_claims(claims_path) if claims_path else load_claims()
    views = _assemble(runs, claims)
    # scenario runs measure different regimes: comparing each with the first says nothing
    comparisons: list[Comparison] = (
        [] if kind == "claims" else [compare_runs(runs[0], r) for r in runs[1:]]
    )
    headline = ch.headline_chart([(v.run, v.heads) for v in views])
    rtt_charts = [
        chart
        for i, run in enumerate(loaded)
        if (chart := ch.rtt_ratio_chart(split_by_rtt(run), f"rtt-ratios-{i + 1}")) is not None
    ]
    built = datetime.now(UTC).replace(microsecond=0).isoformat()
    title = _title(views, kind)
    meta = ReportMeta(
        name=name,
        kind=kind,
        title=title,
        built=built,
        loadlab_version=__version__,
        runs=[
            ReportRun(
                run_id=v.run.run_id,
                label=v.label,
                path=v.data_path,
                backend=v.manifest.backend,
                preset=v.manifest.preset,
                started=v.manifest.started,
                finished=v.manifest.finished,
                host=_host(v.run),
                command=v.manifest.command,
            )
            for v in views
        ],
        answer=scenario_claims.findings
        if scenario_claims is not None
        else _index_lines(views, comparisons, kind),
    )
    report_ref = _shown_path(Path(out_root) / name)
    context: dict[str, Any] = {
        "meta": meta,
        "title": title,
        "kind": kind,
        "views": views,
        "multi": len(views) > 1,
        "headline": headline,
        "rtt_charts": rtt_charts,
        "comparisons": comparisons,
        "side_by_side": _side_by_side(runs) if len(runs) > 1 else [],
        "claims": claims,
        "scenario_claims": scenario_claims,
        "cpu_summary": {v.slug: _cpu_summary(v.run) for v in views},
        "report_ref": report_ref,
        "rerun": {v.slug: rerun_command(v.run, report_ref, v.data_path) for v in views},
        "hosts": {v.slug: _host(v.run) for v in views},
        "version": __version__,
        "color": ch.variant_color,
        "head_of": lambda view, workload: next(
            (h for h in view.heads if h.workload == workload), None
        ),
        "claim_of": lambda view, claim: next(c for c in view.claims if c.claim.id == claim.id),
        "json": lambda obj: json.dumps(obj, indent=2, sort_keys=True, default=str),
    }

    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=".tmp", dir=out_root))
    try:
        for view in views:
            _copy_raw(view.run, tmp / view.data_path)
        chart_dir = tmp / "charts"
        chart_dir.mkdir()
        everything = ([headline] if headline else []) + rtt_charts
        everything += [c for v in views for c in v.charts + v.cpu_charts]
        for chart in everything:
            (chart_dir / chart.filename).write_text(chart.svg)
        env = _jinja()
        (tmp / "index.html").write_text(env.get_template("report.html.j2").render(**context))
        (tmp / "report.md").write_text(env.get_template("report.md.j2").render(**context))
        (tmp / "report.json").write_text(meta.model_dump_json(indent=2) + "\n")
        final = out_root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        final.chmod(0o755)  # mkdtemp made it private; a published report is world-readable
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    write_index(out_root)
    return final


# ---------------------------------------------------------------- reports/index.html


def read_report_meta(report_dir: Path) -> ReportMeta | None:
    path = Path(report_dir) / "report.json"
    if not path.is_file():
        return None
    try:
        return ReportMeta.model_validate_json(path.read_text())
    except ValueError:
        return None


def write_index(out_root: Path = Path("reports")) -> Path:
    """`out_root/index.html`: every published report under `out_root`, newest first."""
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    reports = []
    for child in sorted(out_root.iterdir()):
        if child.is_dir() and not child.name.startswith(".") and (child / "index.html").is_file():
            meta = read_report_meta(child)
            if meta is not None:
                reports.append(meta)
    reports.sort(key=lambda m: (m.runs[0].started if m.runs else "", m.built), reverse=True)
    html = _jinja().get_template("index.html.j2").render(reports=reports, version=__version__)
    path = out_root / "index.html"
    path.write_text(html)
    return path


def original_run_dir(report_dir: Path, run: str | None = None) -> Path:
    """Where a report keeps the raw data of the run to reproduce (the first, unless named)."""
    meta = read_report_meta(report_dir)
    if meta is None:
        if (report_dir / "manifest.json").is_file():
            return report_dir
        raise LabError(
            f"{report_dir} is not a loadlab report (no report.json, no manifest.json)",
            hint="pass a folder under reports/",
        )
    runs = meta.runs
    if run is not None:
        runs = [r for r in runs if run in (r.run_id, r.label)]
        if not runs:
            known = ", ".join(r.run_id for r in meta.runs)
            raise LabError(f"{report_dir} has no run {run!r}", hint=f"choose one of: {known}")
    return (report_dir / runs[0].path).resolve()
