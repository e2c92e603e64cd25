"""Statistics across repeats: medians with bootstrap intervals, and paired ratios of variants."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

from loadlab.core.results import Estimate, Ratio

BOOTSTRAP_RESAMPLES = 10_000
BOOTSTRAP_SEED = 7  # fixed, so the same data always gives the same interval


def bootstrap_median(
    values: Sequence[float], confidence: float = 0.95, resamples: int = BOOTSTRAP_RESAMPLES
) -> Estimate:
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Estimate(median=0.0, ci_low=0.0, ci_high=0.0, n=0)
    median = float(np.median(data))
    if data.size == 1:
        return Estimate(median=median, ci_low=median, ci_high=median, n=1, values=list(data))
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    samples = rng.choice(data, size=(resamples, data.size), replace=True)
    medians = np.median(samples, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(medians, [alpha, 1 - alpha])
    return Estimate(
        median=median, ci_low=float(low), ci_high=float(high), n=int(data.size), values=list(data)
    )


def bootstrap_ratio(
    numerator: Sequence[float],
    denominator: Sequence[float],
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Estimate:
    """median(numerator) / median(denominator), each side resampled independently."""
    top = np.asarray(numerator, dtype=float)
    bottom = np.asarray(denominator, dtype=float)
    if top.size == 0 or bottom.size == 0 or float(np.median(bottom)) == 0.0:
        return Estimate(median=0.0, ci_low=0.0, ci_high=0.0, n=0)
    ratio = float(np.median(top) / np.median(bottom))
    n = int(min(top.size, bottom.size))
    if top.size == 1 and bottom.size == 1:
        return Estimate(median=ratio, ci_low=ratio, ci_high=ratio, n=1, values=[ratio])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    top_medians = np.median(rng.choice(top, size=(resamples, top.size)), axis=1)
    bottom_medians = np.median(rng.choice(bottom, size=(resamples, bottom.size)), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = top_medians / bottom_medians
    ratios = ratios[np.isfinite(ratios)]
    alpha = (1 - confidence) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return Estimate(median=ratio, ci_low=float(low), ci_high=float(high), n=n)


# ---------------------------------------------------------------- paired ratios
#
# A ratio is computed from paired cells: the two variants measured in the same randomised
# block. Each block gives one log ratio, in which whatever the block shared (the machine's
# state, slow drift) cancels; the interval comes from those n log ratios. The simulation in
# tests/unit/test_interval_coverage.py measures each method's coverage at n = 3..5.

PAIRED_T = "paired-t-log"  # the default: Student t on the per-block log ratios
BLOCK_BOOTSTRAP = "block-bootstrap"  # percentile bootstrap over blocks (then windows, if given)
INDEPENDENT_BOOTSTRAP = "independent-bootstrap-medians"  # the old method: `bootstrap_ratio`
SINGLE = "single-measurement"  # one figure a side (a capacity search): no interval
RATIO_METHODS = (PAIRED_T, BLOCK_BOOTSTRAP)


def _t_coverage(t: float, df: int) -> float:
    """P(|T| <= t) for Student's t with integer `df`, in closed form (Abramowitz & Stegun
    26.7.3 and 26.7.4: a finite series in cos(theta), theta = atan(t / sqrt(df)))."""
    theta = math.atan(t / math.sqrt(df))
    cos, sin = math.cos(theta), math.sin(theta)
    if df % 2 == 1:
        if df == 1:
            return 2 / math.pi * theta
        term = total = cos
        for k in range(3, df - 1, 2):
            term *= (k - 1) / k * cos * cos
            total += term
        return 2 / math.pi * (theta + sin * total)
    term = total = 1.0
    for k in range(2, df - 1, 2):
        term *= (k - 1) / k * cos * cos
        total += term
    return sin * total


@cache
def t_quantile(confidence: float, df: int) -> float:
    """The two-sided Student t critical value: P(|T| <= value) = confidence (4.303 for 95%
    and df = 2). Exact for integer df, by bisection on the closed-form distribution, so the
    lab needs no scipy for it."""
    if df < 1 or not 0 < confidence < 1:
        raise ValueError(f"t quantile needs df >= 1 and 0 < confidence < 1 (df={df})")
    low, high = 0.0, 1.0
    while _t_coverage(high, df) < confidence:
        high *= 2
    for _ in range(100):
        middle = (low + high) / 2
        if _t_coverage(middle, df) < confidence:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def paired_t_ratio(log_ratios: Sequence[float], confidence: float = 0.95) -> Estimate:
    """exp(mean log ratio) with the t interval exp(mean ± t(n-1) · sd / sqrt(n)).

    `median` holds the point estimate, the geometric mean of the per-block ratios; `values`
    the per-block ratios; `n` the blocks. One block: a point, no interval."""
    d = np.asarray(log_ratios, dtype=float)
    if d.size == 0:
        return Estimate(median=0.0, ci_low=0.0, ci_high=0.0, n=0)
    point = float(np.exp(d.mean()))
    values = [float(v) for v in np.exp(d)]
    if d.size == 1:
        return Estimate(median=point, ci_low=point, ci_high=point, n=1, values=values)
    half = t_quantile(confidence, d.size - 1) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return Estimate(
        median=point,
        ci_low=float(np.exp(d.mean() - half)),
        ci_high=float(np.exp(d.mean() + half)),
        n=int(d.size),
        values=values,
    )


def block_bootstrap_ratio(
    blocks: Sequence[float | Sequence[float]],
    confidence: float = 0.95,
    resamples: int = BOOTSTRAP_RESAMPLES,
) -> Estimate:
    """A hierarchical percentile bootstrap of the mean log ratio: blocks are drawn with
    replacement, then (where a block holds several time windows' log ratios) its windows.
    A block given as one number is one window. Offered for comparison: at 3 to 5 blocks its
    interval is too narrow (see the coverage simulation), so it is not the default."""
    groups = [np.atleast_1d(np.asarray(b, dtype=float)) for b in blocks]
    groups = [g for g in groups if g.size]
    if not groups:
        return Estimate(median=0.0, ci_low=0.0, ci_high=0.0, n=0)
    block_means = np.array([g.mean() for g in groups])
    point = float(np.exp(block_means.mean()))
    values = [float(v) for v in np.exp(block_means)]
    n = len(groups)
    if n == 1 and groups[0].size == 1:
        return Estimate(median=point, ci_low=point, ci_high=point, n=1, values=values)
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    chosen = rng.integers(0, n, size=(resamples, n))
    if all(g.size == 1 for g in groups):  # one window a block: a bootstrap over blocks
        means = block_means[chosen].mean(axis=1)
    else:
        # for every block, a within-block resampled mean per (resample, slot)
        within = np.stack(
            [g[rng.integers(0, g.size, size=(resamples, n, g.size))].mean(axis=2) for g in groups]
        )
        slot = np.arange(n)[None, :]
        means = within[chosen, np.arange(resamples)[:, None], slot].mean(axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(
        median=point, ci_low=float(np.exp(low)), ci_high=float(np.exp(high)), n=n, values=values
    )


def paired_ratio(
    log_ratios: Sequence[float], method: str = PAIRED_T, confidence: float = 0.95
) -> Estimate:
    """The interval of a paired ratio by the method named (PAIRED_T or BLOCK_BOOTSTRAP)."""
    if method == PAIRED_T:
        return paired_t_ratio(log_ratios, confidence)
    if method == BLOCK_BOOTSTRAP:
        return block_bootstrap_ratio(list(log_ratios), confidence)
    raise ValueError(f"unknown interval method {method!r}; known: {', '.join(RATIO_METHODS)}")


def half_width(estimate: Estimate) -> float:
    """The relative half-width of a ratio's interval around its point: the larger of
    hi/r - 1 and 1 - lo/r (inf without a usable point)."""
    r = estimate.median
    if r <= 0 or not math.isfinite(r):
        return math.inf
    return max(estimate.ci_high / r - 1, 1 - estimate.ci_low / r)


def noise_factor(aa: Estimate) -> float:
    """The noise floor an A/A ratio sets, as a factor >= 1: the farthest from parity its
    interval reaches, max(ci_high, 1 / ci_low). Two identical arms could not be told apart
    from a ratio anywhere in [1/f, f]."""
    if aa.ci_low <= 0:
        return math.inf
    return max(aa.ci_high, 1 / aa.ci_low, 1.0)


def within_floor(estimate: Estimate, factor: float) -> bool:
    """Does the ratio's interval reach into the noise band [1/factor, factor]?"""
    return estimate.ci_low <= factor and estimate.ci_high >= 1 / factor


def noise_floor_for(
    floor: Sequence[Ratio], workload: str, load_label: str, db_rtt_ms: float | None = None
) -> Ratio | None:
    """The A/A ratio that judges a ratio measured at (workload, load, RTT): the one measured
    there; else the widest of the same workload; else the widest of the run (a floor measured
    elsewhere is only a guide, so the least flattering one is used). None: no A/A."""
    usable = [r for r in floor if r.estimate.n >= 2]
    exact = [
        r
        for r in usable
        if (r.workload, r.load_label, r.db_rtt_ms) == (workload, load_label, db_rtt_ms)
    ]
    same_workload = [r for r in usable if r.workload == workload]
    for candidates in (exact, same_workload, usable):
        if candidates:
            return max(candidates, key=lambda r: noise_factor(r.estimate))
    return None
