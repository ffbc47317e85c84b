"""analysis.stats: Student-t quantiles against published tables, intervals, rank correlation."""

import math
import statistics

import pytest

from onebyone.errors import OneByOneError
from onebyone.stats import (
    Estimate,
    mean_interval,
    proportion_interval,
    ratio_interval,
    samples_needed,
    spearman,
    t_quantile,
)


@pytest.mark.parametrize(
    "df, confidence, expected",  # two-sided critical values of Student's t, as in every printed table
    [
        (1, 0.95, 12.7062),
        (2, 0.95, 4.3027),
        (3, 0.95, 3.1824),
        (4, 0.95, 2.7764),
        (5, 0.95, 2.5706),
        (9, 0.95, 2.2622),
        (30, 0.95, 2.0423),
        (2, 0.99, 9.9248),
        (10, 0.90, 1.8125),
    ],
)
def test_t_quantile_matches_the_tables(df, confidence, expected):
    assert t_quantile(df, confidence) == pytest.approx(expected, abs=1e-4)


def test_t_quantile_tends_to_the_normal_quantile():
    assert t_quantile(100_000) == pytest.approx(1.959964, abs=1e-4)


@pytest.mark.parametrize("df, confidence", [(0, 0.95), (1.5, 0.95), (3, 1.0), (3, 0.0)])
def test_t_quantile_refuses_bad_arguments(df, confidence):
    with pytest.raises(OneByOneError):
        t_quantile(df, confidence)


def test_mean_interval_is_the_t_interval():
    values = [1.0, 2.0, 4.0]
    estimate = mean_interval(values)
    half = 4.302653 * statistics.stdev(values) / math.sqrt(3)
    assert estimate.value == pytest.approx(7 / 3)
    assert (estimate.low, estimate.high) == pytest.approx((7 / 3 - half, 7 / 3 + half))
    assert estimate.n == 3 and estimate.over == "seeds" and estimate.samples == (1.0, 2.0, 4.0)
    assert estimate.spread == (1.0, 4.0)


def test_one_value_has_no_interval_and_no_values_is_an_error():
    one = mean_interval([0.5])
    assert (one.value, one.low, one.high, one.n) == (0.5, None, None, 1)
    with pytest.raises(OneByOneError):
        mean_interval([])


def test_equal_values_give_a_zero_width_interval():
    estimate = mean_interval([0.25, 0.25, 0.25])
    assert estimate.low == estimate.high == 0.25


def test_ratio_interval_is_symmetric_on_the_log_scale():
    estimate = ratio_interval([2.0, 8.0])  # geometric mean 4
    assert estimate.value == pytest.approx(4.0)
    assert estimate.low * estimate.high == pytest.approx(16.0)
    assert estimate.over == "rounds"
    with pytest.raises(OneByOneError):
        ratio_interval([1.0, 0.0])


def test_exact_estimate():
    estimate = Estimate.exact(7)
    assert (estimate.value, estimate.low, estimate.high, estimate.over, estimate.spread) == (
        7,
        7,
        7,
        "exact",
        None,
    )


@pytest.mark.parametrize(
    "x, y, expected",
    [
        ([1, 2, 3, 4], [10, 20, 30, 40], 1.0),
        ([1, 2, 3, 4], [4, 3, 2, 1], -1.0),
        ([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.5], 0.8),  # 1 - 6·2/(4·15)
        ([1, 2, 3], [5, 5, 5], 0.0),  # constant: no correlation
        ([1, 2, 3, 4], [1, 2, 2, 3], 0.9486832980505138),  # a tie shares its average rank
    ],
)
def test_spearman(x, y, expected):
    assert spearman(x, y) == pytest.approx(expected)


def test_spearman_needs_equal_lengths():
    with pytest.raises(OneByOneError):
        spearman([1, 2, 3], [1, 2])


def test_samples_needed_shrinks_the_interval_below_the_margin():
    estimate = mean_interval([0.0, 1.0, 2.0])  # sd 1
    n = samples_needed(estimate, 0.5)
    assert t_quantile(n - 1) / math.sqrt(n) < 0.5 <= t_quantile(n - 2) / math.sqrt(n - 1)
    assert samples_needed(estimate, 1e-6) is None  # beyond the limit
    assert samples_needed(mean_interval([1.0]), 0.5) is None  # no spread known


@pytest.mark.parametrize(
    "successes, trials, low, high",  # Wilson score intervals, 95%, as in Newcombe (1998), Table I
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_proportion_interval_is_wilsons(successes, trials, low, high):
    estimate = proportion_interval(successes, trials, over="collages")
    assert estimate.value == successes / trials and estimate.n == trials and estimate.over == "collages"
    assert (round(estimate.low, 4), round(estimate.high, 4)) == (low, high)
    assert sorted(estimate.samples) == [0.0] * (trials - successes) + [1.0] * successes
    assert estimate.low <= estimate.value <= estimate.high


@pytest.mark.parametrize(("successes", "trials"), [(3, 2), (-1, 5), (1, 0), (1.5, 4)])
def test_proportion_interval_refuses_impossible_counts(successes, trials):
    with pytest.raises(OneByOneError, match="successes ≤ trials"):
        proportion_interval(successes, trials)
