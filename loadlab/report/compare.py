"""Two runs side by side: what changed in the environment, and did each ratio hold?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from loadlab.report.runs import Run
from loadlab.report.tables import KEY_PACKAGES, flatten_manifest, pretty_label
from loadlab.results import Estimate, Manifest, Ratio, Summary

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
