"""The comparison of two Poisson rates (collector.rates): worked examples with figures published elsewhere."""

from __future__ import annotations

import pytest

from collector.rates import EXACT_MAX, binomial_p_value, compare


def test_binomial_examples_agree_with_r():
    # R's binom.test documentation: Mendel's peas, 682 of 925 against 3/4: p-value = 0.3825
    assert binomial_p_value(682, 925, 0.75) == pytest.approx(0.3825, abs=5e-5)
    # a fair coin: 7 heads of 10 is nothing unusual (0.34375 = 352/1024), 9 of 10 is (22/1024)
    assert binomial_p_value(7, 10, 0.5) == pytest.approx(352 / 1024)
    assert binomial_p_value(9, 10, 0.5) == pytest.approx(22 / 1024)
    assert binomial_p_value(5, 10, 0.5) == pytest.approx(1.0)
    assert binomial_p_value(0, 0, 0.3) == 1.0


def test_two_poisson_rates_agree_with_r_poisson_test():
    # R's poisson.test documentation: 11 cases in 800 person-years against 6+8+7 in 1083+1050+878:
    # rate ratio 1.971488, p-value = 0.07967 (here "after" is the first group)
    c = compare(before=6 + 8 + 7, before_exposure=1083 + 1050 + 878, after=11, after_exposure=800)
    assert c.ratio == pytest.approx(1.971488, rel=1e-6)
    assert c.p_value == pytest.approx(0.07967, abs=5e-6)


def test_crashes_doubling_on_a_fleet_are_not_noise_and_a_steady_rate_is():
    # 40 crashes in 560 active hours, then 80 in 560: twice the rate; chance alone would do that about 1 in 3,000
    # (2 * P(X >= 80) for X ~ Binomial(120, 1/2), summed by hand with exact fractions)
    doubled = compare(40, 560.0, 80, 560.0)
    assert doubled.ratio == pytest.approx(2.0)
    assert doubled.p_value == pytest.approx(0.00033040, rel=1e-4)
    steady = compare(40, 560.0, 43, 600.0)
    assert steady.ratio == pytest.approx(1.0033, abs=1e-3) and steady.p_value > 0.5
    # a small sample: 1 crash then 3 is no evidence at all
    assert compare(1, 100.0, 3, 100.0).p_value == pytest.approx(0.625)


def test_no_rate_without_exposure_and_no_ratio_without_a_rate_before():
    assert compare(3, 0.0, 5, 10.0) is None and compare(3, 10.0, 5, 0.0) is None
    c = compare(0, 100.0, 12, 100.0)
    assert c.ratio is None and c.p_value == pytest.approx(2 * 0.5 ** 12)


def test_large_counts_use_the_normal_approximation_continuously():
    n = EXACT_MAX // 2
    exact = compare(n - 150, 1000.0, n + 150, 1000.0).p_value  # n = EXACT_MAX: exact
    approx = compare(n - 150, 1000.0, n + 151, 1000.0).p_value  # n = EXACT_MAX + 1: normal
    assert exact == pytest.approx(approx, rel=0.05)
    assert 0.03 < approx < 0.04
