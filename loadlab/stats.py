"""Statistics across repeats: medians with bootstrap confidence intervals, and their ratios."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from loadlab.results import Estimate

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
