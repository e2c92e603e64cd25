"""The ratio interval's coverage, proven by simulation (DESIGN.md, "Statistics").

1,000 simulated runs of a randomised-block design, each with 3 to 5 blocks, measure a
numerator and a denominator variant (and two others that only take places in the order)
whose true throughput ratio is known. Each cell's log throughput is

    variant effect + block effect + slow drift of the machine (a trend and a slow wave over
    the cell's place in the run) + heavy-tailed noise (Student t, df = 3)

The default interval (paired t on the per-block log ratios) must cover the true ratio in
93-97% of the runs. The old method (medians of each side resampled independently,
`bootstrap_ratio`) and the block bootstrap are measured on the same data and printed
(`pytest -s` shows them), not asserted: they are what the default replaced or was chosen over.
"""

from __future__ import annotations

import math

import numpy as np

from loadlab.measurement.stats import block_bootstrap_ratio, bootstrap_ratio, paired_t_ratio

RUNS = 1_000
TRUE_RATIO = 1.7
VARIANTS = 4  # numerator, denominator and two more sharing each block's order
BLOCK_SD = 0.08  # a block's shared state of the machine, on the log scale
NOISE_SCALE = 0.03  # times a Student t (df 3): heavy tails, occasional 10-20% outliers
SEED = 20240601


def simulate(rng: np.random.Generator, blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """One run's log throughputs of the numerator and the denominator, one per block."""
    slope = rng.normal(0, 0.01)  # per cell: a run of 20 cells drifts by ~20%
    amplitude = rng.uniform(0, 0.08)
    period = rng.uniform(2, 6) * VARIANTS * blocks
    phase = rng.uniform(0, 2 * math.pi)
    effects = np.log([2000.0 * TRUE_RATIO, 2000.0, 2400.0, 1500.0])
    top, bottom = np.empty(blocks), np.empty(blocks)
    for block in range(blocks):
        shared = rng.normal(0, BLOCK_SD)
        order = rng.permutation(VARIANTS)  # the block's random order
        for place, variant in enumerate(order):
            position = block * VARIANTS + place
            drift = slope * position + amplitude * math.sin(2 * math.pi * position / period + phase)
            value = effects[variant] + shared + drift + NOISE_SCALE * rng.standard_t(3)
            if variant == 0:
                top[block] = value
            elif variant == 1:
                bottom[block] = value
    return top, bottom


def coverage() -> dict[str, tuple[float, float]]:
    """Per method: (share of runs whose 95% interval covers the true ratio, mean relative
    half-width)."""
    rng = np.random.default_rng(SEED)
    hits = {"paired-t-log": 0, "block-bootstrap": 0, "independent-bootstrap-medians": 0}
    widths = dict.fromkeys(hits, 0.0)
    for run in range(RUNS):
        top, bottom = simulate(rng, blocks=3 + run % 3)
        logs = top - bottom
        for method, estimate in (
            ("paired-t-log", paired_t_ratio(logs)),
            ("block-bootstrap", block_bootstrap_ratio(logs, resamples=2_000)),
            (
                "independent-bootstrap-medians",
                bootstrap_ratio(np.exp(top), np.exp(bottom), resamples=2_000),
            ),
        ):
            hits[method] += estimate.ci_low <= TRUE_RATIO <= estimate.ci_high
            widths[method] += (estimate.ci_high - estimate.ci_low) / 2 / estimate.median
    return {m: (hits[m] / RUNS, widths[m] / RUNS) for m in hits}


def test_paired_t_interval_covers_the_true_ratio_95_percent_of_the_time() -> None:
    found = coverage()
    for method, (share, width) in found.items():
        print(f"coverage of {method}: {share:.1%} (mean half-width ±{width:.1%})")
    share, _ = found["paired-t-log"]
    assert 0.93 <= share <= 0.97
