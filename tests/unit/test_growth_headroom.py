"""``make bench-detect-growth``: the growth test's likelihood ratio, checked against closed forms."""

import math

import numpy as np

from pipeline.sim.growth_headroom import compare, growth_llr


def test_with_flat_weights_it_is_the_poisson_likelihood_ratio_of_the_window():
    rng = np.random.default_rng(3)
    rates = rng.uniform(0.05, 2.0, 300)
    counts = rng.poisson(rates * rng.uniform(0.5, 3.0, 300)).astype(float)
    llr = growth_llr(counts, rates, 0, 30)
    for t in range(29, 300, 7):
        n, lam = counts[t - 29:t + 1].sum(), rates[t - 29:t + 1].sum()
        want = n * math.log(n / lam) - (n - lam) if n > lam else 0.0
        assert math.isclose(llr[t], want, rel_tol=1e-9, abs_tol=1e-9)


def test_the_fitted_rise_is_the_best_of_every_rise_of_that_shape():
    rng = np.random.default_rng(5)
    rates = np.full(200, 0.3)
    counts = rng.poisson(0.3 * (1 + 10 * 2.0 ** ((np.arange(200) - 199) / 15))).astype(float)
    llr = growth_llr(counts, rates, 15, 60)
    g = 2.0 ** ((np.arange(60) - 59) / 15)
    n, lam = counts[-60:], rates[-60:]
    grid = [float((n * np.log1p(a * g)).sum() - a * (lam * g).sum()) for a in np.linspace(0, 40, 40001)]
    assert llr[-1] >= max(grid) - 1e-9 and llr[-1] - max(grid) < 1e-3
    assert llr[-1] > 13.8  # an accelerating burst stands out; a steady rate does not
    assert float(growth_llr(rng.poisson(rates).astype(float), rates, 15, 60).max()) < 13.8


def test_delays_are_compared_burst_by_burst_where_both_confirm():
    result = {"windows_false": 3, "windows_delay": {"a": 10.0, "b": 20.0, "c": None},
              "bars": {"12.0": {"false": 2, "delay": {"a": 7.0, "b": None, "c": 5.0}}},
              "doubling": {"a": 45, "b": 5, "c": 45}}
    row = compare([result], (12.0,))["12.0"]
    assert (row["false"], row["bursts"], row["mean"], row["slow_mean"]) == (2, 1, -3.0, -3.0)
