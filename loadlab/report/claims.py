"""Published Flask vs FastAPI figures (`loadlab/data/claims.toml`) against what a run measured."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from loadlab.core.claims import Claim, load_claims
from loadlab.core.results import Summary
from loadlab.report.tables import (
    HeadlineRatio,
    fmt_ratio,
    headline_ratio,
    pretty_label,
)

Verdict = Literal["consistent", "higher", "lower", "not measured"]


def verdict(
    low: float | None, high: float | None, ci_low: float, ci_high: float
) -> Literal["consistent", "higher", "lower"]:
    """Does the published range overlap the lab's interval? If not, which side is the lab on?"""
    low = float("-inf") if low is None else low
    high = float("inf") if high is None else high
    if ci_low > high:
        return "higher"
    if ci_high < low:
        return "lower"
    return "consistent"


@dataclass
class ClaimCheck:
    claim: Claim
    workload: str | None
    ratio: HeadlineRatio | None
    verdict: Verdict
    line: str

    @property
    def measured(self) -> bool:
        return self.ratio is not None


def check_claim(claim: Claim, summary: Summary) -> ClaimCheck:
    ran = (
        {a.workload for a in summary.aggregates}
        | {c.workload for c in summary.capacity}
        | {r.workload for r in summary.ratios}
    )
    workload = next((w for w in claim.workloads if w in ran), None)
    if workload is None:
        return ClaimCheck(
            claim,
            None,
            None,
            "not measured",
            f"not measured in this run (no {' / '.join(claim.workloads)} workload)",
        )
    ratio = headline_ratio(summary, workload, claim.fastapi_variant, claim.flask_variant)
    if ratio is None:
        return ClaimCheck(
            claim,
            workload,
            None,
            "not measured",
            f"not measured in this run ({claim.fastapi_variant} over {claim.flask_variant} "
            f"on {workload} was not run)",
        )
    e = ratio.estimate
    # a verdict needs the lab's interval widened by the A/A noise floor (f on each side) to
    # miss the published range: a gap smaller than the lab's own noise is not called
    floor = ratio.noise_factor or 1.0
    result = verdict(claim.ratio_low, claim.ratio_high, e.ci_low / floor, e.ci_high * floor)
    where = (
        "at capacity"
        if ratio.basis == "capacity"
        else f"at {pretty_label(summary, ratio.load_label)}"
    )
    ci = f"CI {e.ci_low:.2f}–{e.ci_high:.2f}" if ratio.has_ci else "no CI"
    relation = {"consistent": "overlaps", "higher": "above", "lower": "below"}[result]
    line = (
        f"{fmt_ratio(e.median)} ({ci}) on {workload} {where}: {relation} the published "
        f"{claim.range_text}"
    )
    if floor > 1:
        line += f" (judged with the A/A noise floor, ±{floor - 1:.1%})"
    if ratio.flagged:
        line += " (flagged: an invalid cell went into it)"
    return ClaimCheck(claim, workload, ratio, result, line)


def check_claims(summary: Summary, claims: list[Claim] | None = None) -> list[ClaimCheck]:
    return [check_claim(c, summary) for c in (claims if claims is not None else load_claims())]


# ---------------------------------------------------------------- claims across scenario runs

SUPPORT = {
    "consistent": "supported",
    "higher": "not supported (the lab measured more)",
    "lower": "not supported (the lab measured less)",
    "not measured": "not measured",
}


@dataclass
class ScenarioRun:
    """A finished run of a scenario: its name@version, the claims it tests, its summary."""

    scenario: str
    claims: list[str]
    summary: Summary
    conditions: str = ""


@dataclass
class ClaimRow:
    scenario: str
    check: ClaimCheck

    @property
    def support(self) -> str:
        return SUPPORT[self.check.verdict]

    @property
    def measured_text(self) -> str:
        ratio = self.check.ratio
        if ratio is None:
            return "—"
        e = ratio.estimate
        ci = f"CI {e.ci_low:.2f}–{e.ci_high:.2f}" if ratio.has_ci else "no CI (one repeat)"
        return f"{fmt_ratio(e.median)} ({ci})"


@dataclass
class Reach:
    """Where the FastAPI-over-Flask ratio reached `threshold` (by its median)."""

    threshold: float
    hits: list[str]
    best: str

    @property
    def sentence(self) -> str:
        at = f"{self.threshold:g}x"
        if not self.hits:
            return f"The ratio never reached {at} on this machine; the highest measured was {self.best}."
        shown = "; ".join(self.hits[:5])
        more = f"; and {len(self.hits) - 5} more" if len(self.hits) > 5 else ""
        return f"The ratio reached {at} in {len(self.hits)} condition(s): {shown}{more}."


@dataclass
class ScenarioClaims:
    rows: list[ClaimRow]
    reaches: list[Reach]
    caveats: list[str] = field(default_factory=list)
    # charts shown under the claims table (loadlab.report.charts.Chart: the forest plot)
    charts: list[Any] = field(default_factory=list)

    @property
    def findings(self) -> list[str]:
        """Plain sentences: which claims the measurements support, which not, and where the
        ratio reaches 2x and 7x. `**bold**` marks the verdicts."""
        lines = []
        for label, verdicts in (
            ("Supported", ("consistent",)),
            ("Not supported", ("higher", "lower")),
            ("Not measured", ("not measured",)),
        ):
            rows = [r for r in self.rows if r.check.verdict in verdicts]
            if not rows:
                continue
            parts = []
            for r in rows:
                claim = r.check.claim
                if r.check.ratio is None:
                    parts.append(f"{claim.source} ({claim.ratio}) in {r.scenario}")
                    continue
                side = {"higher": ", more than published", "lower": ", less than published"}
                parts.append(
                    f"{claim.source} ({claim.ratio}): {r.measured_text} in {r.scenario}"
                    + side.get(r.check.verdict, "")
                )
            lines.append(f"**{label}:** " + "; ".join(parts) + ".")
        lines += [reach.sentence for reach in self.reaches]
        lines += self.caveats
        return lines


def _ratio_conditions(runs: list[ScenarioRun]) -> list[tuple[float, str]]:
    found = []
    for run in runs:
        summary = run.summary
        for r in summary.ratios + summary.capacity_ratios:
            e = r.estimate
            where = "at capacity" if r.basis == "capacity" else pretty_label(summary, r.load_label)
            ci = f", CI {e.ci_low:.2f}–{e.ci_high:.2f}" if e.n > 1 and e.ci_high > e.ci_low else ""
            text = (
                f"{r.workload} at {where} ({run.scenario}): {r.numerator} ÷ {r.denominator} "
                f"{fmt_ratio(e.median)}{ci}"
            )
            found.append((e.median, text))
    return sorted(found, key=lambda item: -item[0])


def scenario_claims(
    runs: list[ScenarioRun],
    claims: list[Claim] | None = None,
    thresholds: tuple[float, ...] = (2.0, 7.0),
) -> ScenarioClaims:
    """One row per (scenario, claim it tests), then where the ratio reached each threshold."""
    by_id = {c.id: c for c in (claims if claims is not None else load_claims())}
    rows = [
        ClaimRow(run.scenario, check_claim(by_id[cid], run.summary))
        for run in runs
        for cid in run.claims
        if cid in by_id
    ]
    conditions = _ratio_conditions(runs)
    best = conditions[0][1] if conditions else "none (no ratio was measured)"
    reaches = [
        Reach(t, [text for median, text in conditions if median >= t], best) for t in thresholds
    ]
    single = [
        r.scenario for r in runs if max((c.spec.repeat for c in r.summary.cells), default=0) < 2
    ]
    caveats = (
        [
            f"Read with care: {', '.join(single)} ran one repeat, so their ratios have no "
            "confidence interval and each verdict rests on a single short measurement."
        ]
        if single
        else []
    )
    return ScenarioClaims(rows, reaches, caveats)
