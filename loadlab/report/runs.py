"""Reading a run directory (or a report's copy of one) into typed data."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from loadlab.core import integrity
from loadlab.core.errors import LabError
from loadlab.core.results import Manifest, Summary, read_manifest, read_summary

# The order variants and workloads appear in, when a run does not say otherwise.
VARIANT_ORDER = ["flask-sync", "flask-gevent", "fastapi-sync", "fastapi-psycopg", "fastapi-async"]


@dataclass(frozen=True)
class Run:
    """One run as the report sees it: where its files are, its manifest and its summary."""

    path: Path
    manifest: Manifest
    summary: Summary
    label: str
    db_rtt_ms: float | None = None  # set on one RTT's share of a sweep (see split_by_rtt)

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    def cell_dir(self, cell_id: str) -> Path:
        return self.path / "cells" / cell_id

    @property
    def variants(self) -> list[str]:
        seen = {a.variant for a in self.summary.aggregates}
        seen |= {c.variant for c in self.summary.capacity}
        seen |= {c.spec.variant for c in self.summary.cells}
        return order_variants(seen)

    @property
    def workloads(self) -> list[str]:
        """Workloads with results, in the order the run's config lists them."""
        configured = self.manifest.config.get("workloads")
        names = [str(w) for w in configured] if isinstance(configured, list) else []
        found = (
            [a.workload for a in self.summary.aggregates]
            + [c.workload for c in self.summary.capacity]
            + [c.spec.workload for c in self.summary.cells]
        )
        present = set(found)
        return [w for w in dict.fromkeys(names + found) if w in present]


def order_variants(names: set[str] | Sequence[str]) -> list[str]:
    known = [v for v in VARIANT_ORDER if v in names]
    return known + sorted(set(names) - set(known))


def load_run(path: Path, label: str | None = None) -> Run:
    path = Path(path)
    if not path.is_dir():
        raise LabError(f"{path} is not a run directory", hint="pass a folder under results/")
    for name in ("manifest.json", "summary.json"):
        if not (path / name).is_file():
            hint = (
                f"build it with: loadlab summarize {path}"
                if name == "summary.json"
                else "every backend writes manifest.json at the start of a run"
            )
            raise LabError(f"{path / name} is missing", hint=hint)
    try:
        manifest = read_manifest(path)
        summary = read_summary(path)
    except ValidationError as exc:
        raise LabError(
            f"{path} does not match the results schema: {exc.errors()[0]['msg']}",
            hint="rebuild summary.json with the installed loadlab (loadlab summarize RUN_DIR)",
        ) from exc
    # refuses changed cell files; a manifest from before checksums gets a caveat instead
    # (shown by the report, never written back to the run)
    if caveat := integrity.check(path, manifest):
        manifest.caveats.append(caveat)
    return Run(path=path, manifest=manifest, summary=summary, label=label or summary.run_id)


def rtts(run: Run) -> list[float]:
    """The emulated database round trips the run's matrix swept, ascending."""
    return sorted({c.spec.db_rtt_ms for c in run.summary.cells if c.spec.db_rtt_ms is not None})


def split_by_rtt(run: Run) -> list[Run]:
    """A run that swept the database round trip, as one run per RTT: every table and chart
    then reads one RTT's numbers, as it reads a run's. Capacity searches (run at the sweep's
    first RTT) stay with that RTT's share. A run without a sweep is returned as it is."""
    found = rtts(run)
    if len(found) < 2:
        return [run]
    parts = []
    first = next(
        (c.spec.db_rtt_ms for c in run.summary.cells if c.spec.phase == "capacity"), found[0]
    )
    for rtt in found:
        s = run.summary
        summary = s.model_copy(
            update={
                "cells": [c for c in s.cells if c.spec.db_rtt_ms == rtt],
                "aggregates": [a for a in s.aggregates if a.db_rtt_ms == rtt],
                "ratios": [r for r in s.ratios if r.db_rtt_ms == rtt],
                "noise_floor": [r for r in s.noise_floor if r.db_rtt_ms == rtt],
                "capacity": s.capacity if rtt == first else [],
                "capacity_ratios": s.capacity_ratios if rtt == first else [],
            }
        )
        label = f"{run.label} · DB RTT {rtt:g} ms"
        parts.append(Run(run.path, run.manifest, summary, label, db_rtt_ms=rtt))
    return parts


def load_runs(paths: Sequence[Path], labels: Sequence[str] | None = None) -> list[Run]:
    if not paths:
        raise LabError("no run to report on", hint="pass one or more results/<run-id> folders")
    if labels is not None and len(labels) != len(paths):
        raise ValueError("one label per run")
    runs = [load_run(p, labels[i] if labels else None) for i, p in enumerate(paths)]
    if labels is None:
        # Two runs with the same id (a run beside its own copy) still need distinct labels.
        counts: dict[str, int] = {}
        relabelled = []
        for run in runs:
            counts[run.label] = counts.get(run.label, 0) + 1
            if counts[run.label] > 1:
                run = Run(run.path, run.manifest, run.summary, f"{run.label} ({counts[run.label]})")
            relabelled.append(run)
        runs = relabelled
    return runs
