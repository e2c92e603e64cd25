import math

import numpy as np
import pytest

from loadlab.core.results import Estimate, Ratio
from loadlab.measurement.stats import (
    BLOCK_BOOTSTRAP,
    PAIRED_T,
    block_bootstrap_ratio,
    bootstrap_median,
    bootstrap_ratio,
    half_width,
    noise_factor,
    noise_floor_for,
    paired_ratio,
    paired_t_ratio,
    t_quantile,
    within_floor,
)


def test_bootstrap_median_of_known_data_brackets_the_median() -> None:
    rng = np.random.default_rng(1)
    values = list(rng.normal(1000, 50, size=30))
    estimate = bootstrap_median(values)
    assert estimate.median == pytest.approx(float(np.median(values)))
    assert estimate.ci_low < estimate.median < estimate.ci_high
    # the median of 30 normal samples has a standard error near 1.25 * 50 / sqrt(30) = 11.4:
    # a 95% interval is roughly +-22 around it
    assert 10 < estimate.ci_high - estimate.ci_low < 80


def test_bootstrap_is_deterministic() -> None:
    assert bootstrap_median([1, 2, 3, 10]) == bootstrap_median([1, 2, 3, 10])


def test_single_value_has_a_point_interval() -> None:
    estimate = bootstrap_median([42.0])
    assert (estimate.ci_low, estimate.median, estimate.ci_high, estimate.n) == (42, 42, 42, 1)


def test_constant_data_has_a_zero_width_interval() -> None:
    estimate = bootstrap_median([5.0, 5.0, 5.0])
    assert estimate.ci_low == estimate.ci_high == 5.0


def test_ratio_of_medians_with_interval() -> None:
    estimate = bootstrap_ratio([200, 210, 190], [100, 105, 95])
    assert estimate.median == pytest.approx(2.0)
    assert estimate.ci_low <= 2.0 <= estimate.ci_high
    assert estimate.ci_low > 1.7 and estimate.ci_high < 2.3


def test_ratio_with_a_zero_denominator_is_empty_not_an_error() -> None:
    assert bootstrap_ratio([1.0], [0.0]).n == 0


# ---------------------------------------------------------------- paired ratios


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.7062), (2, 4.3027), (3, 3.1824), (4, 2.7764), (9, 2.2622), (30, 2.0423)],
)
def test_t_quantile_matches_the_tables(df: int, expected: float) -> None:
    assert t_quantile(0.95, df) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_at_99_percent() -> None:
    assert t_quantile(0.99, 4) == pytest.approx(4.6041, abs=1e-4)


def test_paired_t_ratio_is_the_geometric_mean_with_a_t_interval() -> None:
    ratios = [1.9, 2.0, 2.1, 2.05]
    e = paired_t_ratio(np.log(ratios))
    logs = np.log(ratios)
    half = 3.1824 * logs.std(ddof=1) / 2
    assert e.median == pytest.approx(float(np.exp(logs.mean())))
    assert e.ci_low == pytest.approx(float(np.exp(logs.mean() - half)), rel=1e-4)
    assert e.ci_high == pytest.approx(float(np.exp(logs.mean() + half)), rel=1e-4)
    assert e.n == 4 and e.values == pytest.approx(ratios)


def test_paired_t_ratio_of_one_block_is_a_point_and_of_none_is_empty() -> None:
    one = paired_t_ratio([math.log(1.5)])
    assert (one.ci_low, one.ci_high, one.n) == (pytest.approx(1.5), pytest.approx(1.5), 1)
    assert paired_t_ratio([]).n == 0


def test_block_bootstrap_brackets_the_point_and_takes_windows() -> None:
    flat = block_bootstrap_ratio(np.log([1.1, 1.2, 1.15, 1.18]))
    assert flat.ci_low <= flat.median <= flat.ci_high
    windows = block_bootstrap_ratio([[0.10, 0.12], [0.20], [0.15, 0.10, 0.13]])
    assert windows.n == 3 and windows.ci_low < windows.median < windows.ci_high
    assert block_bootstrap_ratio(np.log([1.1, 1.2])) == block_bootstrap_ratio(np.log([1.1, 1.2]))


def test_paired_ratio_names_its_methods() -> None:
    logs = np.log([1.1, 1.2, 1.15])
    assert paired_ratio(logs, PAIRED_T) == paired_t_ratio(logs)
    assert paired_ratio(logs, BLOCK_BOOTSTRAP) == block_bootstrap_ratio(logs)
    with pytest.raises(ValueError, match="unknown interval method"):
        paired_ratio(logs, "magic")


def test_half_width_is_the_larger_relative_side() -> None:
    e = Estimate(median=2.0, ci_low=1.9, ci_high=2.2, n=3)
    assert half_width(e) == pytest.approx(0.1)
    assert half_width(Estimate(median=0.0, ci_low=0.0, ci_high=0.0, n=0)) == math.inf


def test_noise_floor_factor_and_the_band_it_sets() -> None:
    aa = Estimate(median=1.0, ci_low=0.97, ci_high=1.02, n=5)
    f = noise_factor(aa)
    assert f == pytest.approx(1 / 0.97)
    assert within_floor(Estimate(median=1.02, ci_low=1.01, ci_high=1.05, n=5), f)
    assert not within_floor(Estimate(median=1.2, ci_low=1.1, ci_high=1.3, n=5), f)
    assert not within_floor(Estimate(median=0.8, ci_low=0.7, ci_high=0.9, n=5), f)


def test_noise_floor_lookup_prefers_the_same_point_then_the_widest() -> None:
    def aa(workload: str, label: str, low: float, high: float) -> Ratio:
        e = Estimate(median=1.0, ci_low=low, ci_high=high, n=4)
        return Ratio(
            workload=workload, load_label=label, numerator="x#b", denominator="x", estimate=e
        )

    floor = [aa("json", "closed-16u", 0.99, 1.01), aa("json", "closed-64u", 0.9, 1.1)]
    floor.append(aa("db-read", "closed-64u", 0.95, 1.04))
    assert noise_floor_for(floor, "json", "closed-16u") is floor[0]
    assert noise_floor_for(floor, "json", "capacity p99<100ms") is floor[1]
    assert noise_floor_for(floor, "updates", "closed-64u") is floor[1]
    assert noise_floor_for([], "json", "closed-16u") is None
