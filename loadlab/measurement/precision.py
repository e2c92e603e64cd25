"""`--precision`: when a run has measured enough blocks. Pure logic; the runner drives it.

A run asked for a precision adds blocks (repeats) one at a time. After each block it
computes every headline ratio (every fastapi variant over every flask variant, at every
workload, load level and RTT of the matrix) and stops when

- every one has a relative 95% half-width at or below the target, after at least
  `min_blocks` blocks ("precision reached"), or
- the next block, as long as the blocks so far took on average, would end past the time
  budget ("budget spent"), or
- `max_blocks` blocks ran ("block limit").
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from loadlab.core.results import PrecisionReport, Ratio, RatioPrecision
from loadlab.measurement.stats import half_width

MIN_BLOCKS = 3  # a t interval from fewer blocks is too wide to stop on, and to trust
MAX_BLOCKS = 50  # without a budget, the most blocks a precision run adds


def min_blocks(repeats: int) -> int:
    """At least MIN_BLOCKS; a larger configured repeat count is a larger minimum."""
    return max(MIN_BLOCKS, repeats)


def assess(found: Sequence[Ratio], target: float) -> list[RatioPrecision]:
    """Each throughput ratio's half-width against the target (None: no interval yet)."""
    out = []
    for r in found:
        if r.basis != "throughput":
            continue
        width = half_width(r.estimate) if r.estimate.n >= 2 else math.inf
        finite = math.isfinite(width)
        out.append(
            RatioPrecision(
                workload=r.workload,
                load_label=r.load_label,
                numerator=r.numerator,
                denominator=r.denominator,
                db_rtt_ms=r.db_rtt_ms,
                half_width=round(width, 6) if finite else None,
                reached=finite and width <= target + 1e-9,  # 1 - 1.9/2 is 0.05000...04
            )
        )
    return out


def stop_reason(
    assessed: Sequence[RatioPrecision],
    block_seconds: Sequence[float],
    *,
    budget_s: float | None,
    least: int = MIN_BLOCKS,
    most: int = MAX_BLOCKS,
) -> str | None:
    """Why the run stops after the blocks in `block_seconds` (their wall-clock durations), or
    None to run another block. Precision is checked first: a run that reaches it as its
    budget runs out says it reached it."""
    blocks = len(block_seconds)
    if blocks >= least:
        if not assessed:
            return "no ratio"
        if all(p.reached for p in assessed):
            return "precision reached"
    if blocks >= most:
        return "block limit"
    if budget_s is not None and blocks:
        elapsed = sum(block_seconds)
        if elapsed + elapsed / blocks > budget_s:
            return "budget spent"
    return None


def report(
    target: float,
    assessed: Sequence[RatioPrecision],
    block_seconds: Sequence[float],
    *,
    budget_s: float | None,
    least: int,
    most: int,
    reason: str | None,
) -> PrecisionReport:
    """The manifest's `precision` section; `reason` None (still running) is recorded as
    "interrupted", which is what it will mean if the run never gets further."""
    return PrecisionReport(
        target=target,
        budget_s=budget_s,
        min_blocks=least,
        max_blocks=most,
        blocks_run=len(block_seconds),
        elapsed_s=round(sum(block_seconds), 1),
        stopped_because=reason or "interrupted",  # type: ignore[arg-type]
        ratios=list(assessed),
    )


_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(h|m|s|ms)?", re.I)
_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "": 1.0}


def parse_fraction(text: str) -> float:
    """ "3%" -> 0.03; "0.03" -> 0.03. A plain number of 1 or more is read as percent."""
    raw = str(text).strip()
    percent = raw.endswith("%")
    try:
        value = float(raw.rstrip("%").strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a precision (examples: 3%, 0.03)") from None
    if percent or value >= 1:
        value /= 100
    if not 0 < value < 1:
        raise ValueError(f"{text!r}: a precision is between 0% and 100% (example: 3%)")
    return value


def parse_duration(text: str) -> float:
    """ "15m" -> 900; "1h30m" -> 5400; "90" or "90s" -> 90 (seconds)."""
    raw = str(text).strip().replace(" ", "")
    parts = list(_DURATION.finditer(raw))
    if not raw or not parts or "".join(p[0] for p in parts) != raw:
        raise ValueError(f"{text!r} is not a duration (examples: 15m, 1h30m, 900s, 900)")
    seconds = sum(float(p[1]) * _SECONDS[(p[2] or "").lower()] for p in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a budget must be longer than zero")
    return seconds
