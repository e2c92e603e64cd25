import numpy as np
import pytest

from loadlab.stats import bootstrap_median, bootstrap_ratio


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
