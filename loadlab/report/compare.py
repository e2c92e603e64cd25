"""Two runs side by side: what changed in the environment, and did each ratio hold?

`compare_gate` (`loadlab compare A B`) adds a verdict per ratio, moved or not moved, and an
exit code for CI; it refuses runs that are not comparable unless forced."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from loadlab.core.errors import LabError
from loadlab.core.results import Estimate, Manifest, Ratio, Summary
from loadlab.measurement.stats import noise_factor, noise_floor_for
from loadlab.report.runs import Run
from loadlab.report.tables import KEY_PACKAGES, flatten_manifest, pretty_label

ChangeVerdict = Literal["reproduced", "overlaps", "higher", "lower", "no CI"]

# What a re-run on another machine is expected to differ in, compared field by field.
DIFF_SECTIONS = (
    "backend",
    "machine",
    "python",
    "packages",
    "postgres",
    "data",
    "topology",
    "cpusets",
    "loadlab_version",
    "git_sha",
)


@dataclass
class RatioChange:
    workload: str
    load_label: str
    numerator: str
    denominator: str
    basis: str
    before: Estimate
    after: Estimate
    verdict: ChangeVerdict
    load_text: str = ""

    @property
    def change(self) -> float:
        return self.after.median / self.before.median - 1 if self.before.median else float("nan")


def has_ci(e: Estimate) -> bool:
    return e.n > 1 or e.ci_low != e.ci_high


def judge(before: Estimate, after: Estimate) -> ChangeVerdict:
    """reproduced: the new median lies inside the original 95% CI; overlaps: it does not, but
    the two intervals overlap; higher / lower: the intervals are disjoint. Without an interval
    on either side (one repeat each) a change cannot be judged: "no CI"."""
    if not has_ci(before) and not has_ci(after):
        return "reproduced" if after.median == before.median else "no CI"
    if not has_ci(before):  # judge the original figure against the re-run's interval
        if after.ci_low <= before.median <= after.ci_high:
            return "reproduced"
        return "higher" if after.ci_low > before.median else "lower"
    if before.ci_low <= after.median <= before.ci_high:
        return "reproduced"
    if after.ci_low > before.ci_high:
        return "higher"
    if after.ci_high < before.ci_low:
        return "lower"
    return "overlaps"


def _key(r: Ratio) -> tuple[str, str, str, str, str]:
    return (r.workload, r.basis, r.load_label, r.numerator, r.denominator)


def ratio_changes(before: Summary, after: Summary) -> tuple[list[RatioChange], list[str]]:
    """Changes of every ratio both runs measured, and the ratios only one of them has."""
    old = {_key(r): r for r in before.ratios + before.capacity_ratios}
    new = {_key(r): r for r in after.ratios + after.capacity_ratios}
    changes = [
        RatioChange(
            workload=k[0],
            basis=k[1],
            load_label=k[2],
            numerator=k[3],
            denominator=k[4],
            before=old[k].estimate,
            after=new[k].estimate,
            verdict=judge(old[k].estimate, new[k].estimate),
            load_text="capacity" if k[1] == "capacity" else pretty_label(before, k[2]),
        )
        for k in old
        if k in new
    ]
    only = [
        f"{k[0]} {k[2]}: {k[3]} over {k[4]} only in the {'first' if k in old else 'second'} run"
        for k in list(old) + list(new)
        if (k in old) != (k in new)
    ]
    return changes, only


@dataclass
class EnvDifference:
    key: str
    before: str
    after: str


# Facts that differ between any two runs and say nothing about the environment.
VOLATILE = ("seeded_at", "seed_seconds", "reused", "data_directory")


def is_volatile(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in VOLATILE


def environment_diff(
    before: Manifest, after: Manifest, sections: tuple[str, ...] = DIFF_SECTIONS
) -> list[EnvDifference]:
    a = flatten_manifest(before, sections)
    b = flatten_manifest(after, sections)
    keys = list(a) + [k for k in b if k not in a]
    key_names = {f"packages.{name}" for name in KEY_PACKAGES}
    out, others = [], []
    for k in keys:
        if a.get(k) == b.get(k) or is_volatile(k):
            continue
        if k.startswith("packages.") and k.lower() not in key_names:
            others.append(k.removeprefix("packages."))
            continue
        out.append(EnvDifference(k, a.get(k, "—"), b.get(k, "—")))
    if others:
        shown = ", ".join(others[:10]) + (
            f" and {len(others) - 10} more" if len(others) > 10 else ""
        )
        out.append(EnvDifference("packages (others)", f"{len(others)} differ", shown))
    return out


@dataclass
class Comparison:
    before: Run
    after: Run
    ratios: list[RatioChange]
    unmatched: list[str]
    environment: list[EnvDifference]
    same_matrix: bool

    @property
    def counts(self) -> dict[str, int]:
        out = {"reproduced": 0, "overlaps": 0, "higher": 0, "lower": 0, "no CI": 0}
        for r in self.ratios:
            out[r.verdict] += 1
        return out


def compare_runs(before: Run, after: Run) -> Comparison:
    ratios, unmatched = ratio_changes(before.summary, after.summary)
    return Comparison(
        before=before,
        after=after,
        ratios=ratios,
        unmatched=unmatched,
        environment=environment_diff(before.manifest, after.manifest),
        same_matrix=before.manifest.config == after.manifest.config,
    )


# ---------------------------------------------------------------- `loadlab compare`: a CI gate
#
# Like pyperf's compare_to, two runs are compared only when they measured the same thing on
# the same kind of machine: the CPU count and model, the data set (its checksum) and each
# variant's configuration (command line, ports aside, and knobs). `force` compares anyway
# and keeps the differences as caveats.

MoveVerdict = Literal["moved", "not moved"]
DEFAULT_THRESHOLD = 0.05
_ADDRESS_FLAGS = ("--host", "--port", "--bind", "-b")
_ADDRESS = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-f:]+\]|localhost)(:\d+)?$", re.I)


def _masked(command: list[str]) -> list[str]:
    """A variant's command line without the address it listened on (a free port each run)."""
    out: list[str] = []
    for i, part in enumerate(command):
        if (i and command[i - 1] in _ADDRESS_FLAGS) or _ADDRESS.match(part):
            out.append("ADDRESS")
        else:
            out.append(part)
    return out


def comparability(before: Manifest, after: Manifest) -> list[EnvDifference]:
    """What makes two runs not comparable, one entry per difference (empty: comparable)."""
    out = []
    for key in ("cpu_count", "cpu_model"):
        a, b = before.machine.get(key), after.machine.get(key)
        if a != b:
            out.append(EnvDifference(f"machine.{key}", str(a), str(b)))
    a, b = before.data.get("checksum"), after.data.get("checksum")
    if a != b:
        out.append(EnvDifference("data.checksum", str(a), str(b)))
    for name in sorted(set(before.variants) & set(after.variants)):
        old, new = before.variants[name], after.variants[name]
        if _masked(old.command) != _masked(new.command):
            out.append(
                EnvDifference(
                    f"variants.{name}.command", " ".join(old.command), " ".join(new.command)
                )
            )
        if old.knobs != new.knobs:
            changed = sorted(
                k for k in set(old.knobs) | set(new.knobs) if old.knobs.get(k) != new.knobs.get(k)
            )
            out.append(
                EnvDifference(
                    f"variants.{name}.knobs",
                    ", ".join(f"{k}={old.knobs.get(k, '—')}" for k in changed),
                    ", ".join(f"{k}={new.knobs.get(k, '—')}" for k in changed),
                )
            )
    return out


@dataclass
class RatioVerdict:
    """One ratio in both runs: moved or not, and why."""

    change: RatioChange
    verdict: MoveVerdict
    direction: Literal["higher", "lower", ""]
    reason: str
    noise_floor_pct: float | None = None

    @property
    def name(self) -> str:
        c = self.change
        return f"{c.workload} {c.load_text or c.load_label}: {c.numerator} / {c.denominator}"


def _interval(e: Estimate) -> tuple[float, float]:
    return (e.ci_low, e.ci_high) if has_ci(e) else (e.median, e.median)


def judge_move(
    before: Estimate, after: Estimate, threshold: float, floor_factor: float | None = None
) -> tuple[MoveVerdict, Literal["higher", "lower", ""], str]:
    """A ratio moved when all three hold: it changed by more than `threshold` (relative);
    the two 95% intervals are disjoint (a ratio without an interval counts as its point);
    and the change is larger than the A/A noise floor (`floor_factor`, f >= 1), if known."""
    if before.median <= 0 or after.median <= 0:
        return "not moved", "", "no estimate in one of the runs"
    change = after.median / before.median
    direction: Literal["higher", "lower"] = "higher" if change > 1 else "lower"
    if abs(change - 1) <= threshold:
        return "not moved", "", f"{change - 1:+.1%}, within ±{threshold:.0%}"
    (lo_a, hi_a), (lo_b, hi_b) = _interval(before), _interval(after)
    if lo_b <= hi_a and lo_a <= hi_b:
        return "not moved", "", f"{change - 1:+.1%}, but the 95% intervals overlap"
    if floor_factor is not None and abs(math.log(change)) <= math.log(floor_factor):
        return (
            "not moved",
            "",
            f"{change - 1:+.1%}, inside the A/A noise floor ±{floor_factor - 1:.1%}",
        )
    return "moved", direction, f"{change - 1:+.1%}, beyond ±{threshold:.0%}, intervals disjoint"


@dataclass
class RunComparison:
    """`loadlab compare A B`: a verdict per ratio both runs measured."""

    before: Run
    after: Run
    threshold: float
    ratios: list[RatioVerdict]
    unmatched: list[str]
    differences: list[EnvDifference]
    forced: bool = False
    caveats: list[str] = field(default_factory=list)

    @property
    def moved(self) -> list[RatioVerdict]:
        return [r for r in self.ratios if r.verdict == "moved"]

    @property
    def exit_code(self) -> int:
        """0: no ratio moved beyond the threshold; 1: at least one did."""
        return 1 if self.moved else 0

    @property
    def conclusion(self) -> str:
        if not self.ratios:
            return "no ratio was measured by both runs"
        if not self.moved:
            return (
                f"no ratio moved beyond ±{self.threshold:.0%}: the runs agree "
                f"({len(self.ratios)} ratio(s) compared)"
            )
        return (
            f"{len(self.moved)} of {len(self.ratios)} ratio(s) moved beyond ±{self.threshold:.0%}"
        )


def _floor_factor(run: Run, c: RatioChange, db_rtt_ms: float | None) -> float | None:
    aa = noise_floor_for(run.summary.noise_floor, c.workload, c.load_label, db_rtt_ms)
    return noise_factor(aa.estimate) if aa is not None else None


def compare_gate(
    before: Run, after: Run, threshold: float = DEFAULT_THRESHOLD, force: bool = False
) -> RunComparison:
    """Set `after` against `before`. Refuses runs that are not comparable (LabError naming
    each difference) unless `force`, which keeps the differences as caveats."""
    differences = comparability(before.manifest, after.manifest)
    if differences and not force:
        named = "; ".join(f"{d.key}: {d.before} vs {d.after}" for d in differences)
        raise LabError(
            f"{before.run_id} and {after.run_id} are not comparable: {named}",
            hint="compare runs of the same machine, data set and variant configuration, or "
            "pass --force to compare anyway (the differences are printed as caveats)",
        )
    changes, unmatched = ratio_changes(before.summary, after.summary)
    rtt = {_key(r): r.db_rtt_ms for r in before.summary.ratios + before.summary.capacity_ratios}
    verdicts = []
    for c in changes:
        key = (c.workload, c.basis, c.load_label, c.numerator, c.denominator)
        floors = [
            f for run in (before, after) if (f := _floor_factor(run, c, rtt.get(key))) is not None
        ]
        floor = max(floors) if floors else None
        verdict, direction, reason = judge_move(c.before, c.after, threshold, floor)
        verdicts.append(
            RatioVerdict(
                c, verdict, direction, reason, None if floor is None else 100 * (floor - 1)
            )
        )
    caveats = [
        f"not comparable, compared anyway: {d.key}: {d.before} vs {d.after}" for d in differences
    ]
    if not before.summary.noise_floor and not after.summary.noise_floor:
        caveats.append("neither run measured an A/A noise floor (loadlab calibrate)")
    pointwise = [
        v.name for v in verdicts if not has_ci(v.change.before) or not has_ci(v.change.after)
    ]
    if pointwise:
        caveats.append(
            f"{len(pointwise)} ratio(s) without an interval on one side (one block, or one "
            "capacity search) are judged by the threshold and the noise floor alone"
        )
    return RunComparison(
        before=before,
        after=after,
        threshold=threshold,
        ratios=verdicts,
        unmatched=unmatched,
        differences=differences,
        forced=force and bool(differences),
        caveats=caveats,
    )


def run_folder(path: Path) -> Path:
    """A results folder as given, or the (first) run a report folder keeps."""
    path = Path(path)
    if (path / "manifest.json").is_file():
        return path
    from loadlab.report.build import original_run_dir  # build imports this module

    return original_run_dir(path)


def compare_paths(
    before: Path, after: Path, threshold: float = DEFAULT_THRESHOLD, force: bool = False
) -> RunComparison:
    """`loadlab compare A B`: two results folders or reports (their first run)."""
    from loadlab.report.runs import load_run

    return compare_gate(load_run(run_folder(before)), load_run(run_folder(after)), threshold, force)
