"""Published Flask vs FastAPI figures (`loadlab/data/claims.toml`) against what a run measured."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from loadlab.report.tables import (
    HeadlineRatio,
    fmt_range,
    fmt_ratio,
    headline_ratio,
    pretty_label,
)
from loadlab.results import Summary

CLAIMS_PATH = Path(__file__).resolve().parent.parent / "data" / "claims.toml"

Verdict = Literal["consistent", "higher", "lower", "not measured"]


class Claim(BaseModel):
    """One published ratio and the lab comparison that measures the same regime."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source: str
    url: str = ""
    regime: str
    fastapi: str = ""
    flask: str = ""
    ratio: str = Field(description="the ratio as published, e.g. '~7x'")
    ratio_low: float | None = None
    ratio_high: float | None = None
    workloads: list[str] = Field(min_length=1)
    flask_variant: str
    fastapi_variant: str = "fastapi-async"
    methodology: str = ""

    @model_validator(mode="after")
    def _a_range(self) -> Claim:
        if self.ratio_low is None and self.ratio_high is None:
            raise ValueError(f"claim {self.id}: give ratio_low, ratio_high or both")
        low, high = self.ratio_low, self.ratio_high
        if low is not None and high is not None and low > high:
            raise ValueError(f"claim {self.id}: ratio_low is above ratio_high")
        return self

    @property
    def range_text(self) -> str:
        return fmt_range(self.ratio_low, self.ratio_high)


def load_claims(path: Path = CLAIMS_PATH) -> list[Claim]:
    raw = tomllib.loads(Path(path).read_text())
    claims = [Claim.model_validate(c) for c in raw.get("claims", [])]
    ids = [c.id for c in claims]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: claim ids must be unique")
    return claims


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
    result = verdict(claim.ratio_low, claim.ratio_high, e.ci_low, e.ci_high)
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
    if ratio.flagged:
        line += " (flagged: an invalid cell went into it)"
    return ClaimCheck(claim, workload, ratio, result, line)


def check_claims(summary: Summary, claims: list[Claim] | None = None) -> list[ClaimCheck]:
    return [check_claim(c, summary) for c in (claims if claims is not None else load_claims())]
