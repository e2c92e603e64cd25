"""Re-run a report's matrix on this machine and report the re-run beside the original."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadlab.core.config import RunConfig
from loadlab.core.errors import LabError
from loadlab.core.results import read_manifest
from loadlab.orchestration.runner import execute
from loadlab.report.build import build_report, original_run_dir
from loadlab.report.compare import DEFAULT_THRESHOLD, RunComparison, compare_gate
from loadlab.report.runs import load_run

# (the manifest's `config`, the results root or None for the lab's default) -> the new run
Executor = Callable[[dict[str, Any], Path | None], Path]


def run_config(config: dict[str, Any], results_root: Path | None) -> Path:
    """Validate `config` as a `RunConfig` and run it with the orchestrator."""
    from pydantic import ValidationError

    try:
        validated = RunConfig.model_validate(config)
    except ValidationError as exc:
        raise LabError(
            f"the recorded config no longer validates: {exc.errors()[0]['msg']}",
            hint="re-run with the loadlab version that made the report (see its manifest)",
        ) from exc
    return execute(validated, results_root)


@dataclass
class Reproduction:
    """A re-run's report, and whether the re-run agrees with the original."""

    report: Path
    agreement: RunComparison


def reproduce(
    report_dir: Path,
    *,
    results_root: Path | None = None,
    out_root: Path | None = None,
    run: str | None = None,
    executor: Executor | None = None,
) -> Path:
    """Re-run the matrix of `report_dir` (same settings, data scale and seed) and build a report
    of the re-run beside the original. Returns the new report's folder.

    `results_root` defaults to the lab's (`LOADLAB_RESULTS` or `results/`); `run` picks a run
    of a multi-run report (its id or label); `executor` replaces the orchestrator (tests).
    """
    return reproduce_checked(
        report_dir, results_root=results_root, out_root=out_root, run=run, executor=executor
    ).report


def reproduce_checked(
    report_dir: Path,
    *,
    results_root: Path | None = None,
    out_root: Path | None = None,
    run: str | None = None,
    executor: Executor | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Reproduction:
    """`reproduce`, then `loadlab compare` of the original against the re-run: does any ratio
    move beyond `threshold`? A re-run is usually made elsewhere, so differences in machine,
    data or variant configuration do not stop the comparison: they are its caveats."""
    report_dir = Path(report_dir)
    original = original_run_dir(report_dir, run)
    manifest = read_manifest(original)
    if not manifest.config:
        raise LabError(
            f"the manifest of {manifest.run_id} records no config to re-run",
            hint=f"re-run it by hand: {manifest.command}",
        )
    root = Path(results_root) if results_root is not None else None
    new_run = Path((executor or run_config)(dict(manifest.config), root))
    new_id = read_manifest(new_run).run_id
    built = build_report(
        [original, new_run],
        out_root=Path(out_root) if out_root is not None else report_dir.parent,
        name=f"{report_dir.name}-rerun-{new_id}",
        labels=[f"original ({manifest.run_id})", f"re-run ({new_id})"],
        kind="reproduction",
    )
    agreement = compare_gate(load_run(original), load_run(new_run), threshold, force=True)
    return Reproduction(report=built, agreement=agreement)
