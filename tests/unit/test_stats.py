"""The tail probabilities every detection decision rests on, against sums done to 60 digits.

The detector pages when one of these falls below a bar such as 1e-6, so an error in the tail
itself (not only near 1) changes who gets paged; the doctests only check a few points near 1.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal, localcontext
from fractions import Fraction

import pytest

from pipeline.core.stats import binomial_sf, floor_div, growth_llr, negbin_logpmf, negbin_sf, poisson_sf

RATES = [0.01, 0.3, 1.0, 2.5, 7.0, 30.0, 120.0, 450.0, 900.0, 5000.0]
SIZES = [0.4, 1.0, 3.0, 25.0, 800.0, 90000.0]


def _tail_sum(first_term: Decimal, ratio, start: int, mode: float) -> Decimal:
    """sum_{k >= start} of terms t_k, with t_{k+1} = t_k * ratio(k), until past the mode and negligible."""
    total, term, k = Decimal(0), first_term, start
    while True:
        total += term
        term *= ratio(k)
        k += 1
        if k > mode and term < total * Decimal("1e-45"):
            return total


def poisson_sf_reference(n: int, lam: float) -> float:
    with localcontext() as ctx:
        ctx.prec = 60
        dlam = Decimal(lam)
        pmf_n = (-dlam).exp() * dlam**n / math.factorial(n)
        return float(_tail_sum(pmf_n, lambda k: dlam / (k + 1), n, lam))


def negbin_reference(n: int, mean: float, size: float) -> tuple[float, float]:
    """(P(X >= n), log P(X = n)) for the gamma-Poisson mixture with this mean and shape ``size``."""
    with localcontext() as ctx:
        ctx.prec = 60
        r, m = Decimal(size), Decimal(mean)
        p, q = r / (r + m), m / (r + m)
        rising = Decimal(1)
        for j in range(n):
            rising *= r + j
        pmf_n = rising / math.factorial(n) * p**r * q**n
        tail = _tail_sum(pmf_n, lambda k: (k + r) / (k + 1) * q, n, mean)
        return float(tail), float(pmf_n.ln())


def binomial_sf_references(n: int, p: Fraction) -> list[float]:
    """P(X >= k) for k = 0..n+1, exactly (rational arithmetic)."""
    tails, total = [0.0], Fraction(0)
    for i in range(n, -1, -1):
        total += math.comb(n, i) * p**i * (1 - p) ** (n - i)
        tails.append(float(total))
    return tails[::-1]


def close(got: float, want: float) -> bool:
    """Relative agreement for real tails, absolute only where both are below a double's reach."""
    if want < 1e-290:
        return got < 1e-280
    return abs(got - want) <= 1e-9 * want


@pytest.mark.parametrize("lam", RATES)
def test_the_poisson_tail_is_exact_from_the_body_to_the_far_tail(lam: float) -> None:
    counts = sorted({*range(0, 40), *(int(lam * f) for f in (0.5, 0.9, 1.0, 1.1, 1.5, 2, 3, 5)), int(lam) + 200})
    for n in counts:
        got = poisson_sf(n, lam)
        want = 1.0 if n <= 0 else poisson_sf_reference(n, lam)
        assert close(got, want), (n, lam, got, want)


def test_a_fractional_count_is_rounded_up_and_a_rate_of_zero_makes_any_count_impossible() -> None:
    assert poisson_sf(2.2, 1.5) == poisson_sf(3, 1.5)
    assert poisson_sf(0.0, 4.0) == 1.0 and poisson_sf(-3, 4.0) == 1.0
    assert poisson_sf(1, 0.0) == 0.0
    assert negbin_sf(2.2, 1.5, 3.0) == negbin_sf(3, 1.5, 3.0)
    assert negbin_sf(0, 4.0, 2.0) == 1.0 and negbin_sf(1, 0.0, 2.0) == 0.0


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("mean", [0.2, 2.0, 15.0, 90.0])
def test_the_negative_binomial_tail_and_pmf_are_exact(mean: float, size: float) -> None:
    counts = sorted({*range(0, 30), int(mean), int(mean) + 1, int(mean * 2), int(mean * 4) + 10, int(mean * 8) + 60})
    for n in counts:
        want_sf, want_logpmf = negbin_reference(n, mean, size)
        got_sf = negbin_sf(n, mean, size)
        assert (got_sf == 1.0) if n == 0 else close(got_sf, want_sf), (n, mean, size, got_sf, want_sf)
        assert math.isclose(negbin_logpmf(n, mean, size), want_logpmf, rel_tol=1e-9, abs_tol=1e-9), (n, mean, size)


@pytest.mark.parametrize("size", [0.4, 800.0, 90000.0])
def test_the_negative_binomial_tail_of_a_large_mean_is_exact(size: float) -> None:
    """A large mean: the body's first term underflows when the rate is well known, and the
    tail is too long to sum term by term when it is vague."""
    mean = 3000.0
    for n in (1, 2000, 2900, 3000, 3001, 3100, 3500, 9000):
        want_sf, _ = negbin_reference(n, mean, size) if size > 1 else (VAGUE_3000[n], None)
        got_sf = negbin_sf(n, mean, size)
        # The vague tail's last ~10^5 terms are summed as a geometric series: 1e-8, not 1e-9.
        assert abs(got_sf - want_sf) <= 1e-8 * want_sf, (n, size, got_sf, want_sf)


# negbin_reference(n, 3000.0, 0.4) for these n, computed once (each takes seconds to sum).
VAGUE_3000 = {1: 0.9718192638463936, 2000: 0.3826976229427462, 2900: 0.3056950347845792, 3000: 0.2985936395728529,
              3001: 0.2985238222460518, 3100: 0.2917251016080739, 3500: 0.2663542759514254, 9000: 0.09100664999274971}


def test_the_negative_binomial_of_a_rate_known_exactly_is_the_poisson() -> None:
    """Past a shape of 1e6 the mixture is computed as the Poisson it tends to."""
    for n, mean in [(1, 2.0), (9, 2.0), (40, 12.5), (3, 30.0)]:
        assert negbin_sf(n, mean, 2e6) == poisson_sf(n, mean)
        with localcontext() as ctx:
            ctx.prec = 60
            want = float(((-Decimal(mean)).exp() * Decimal(mean) ** n / math.factorial(n)).ln())
        assert math.isclose(negbin_logpmf(n, mean, 2e6), want, rel_tol=1e-9)
    assert negbin_logpmf(0, 0.0, 3.0) == 0.0 and negbin_logpmf(2, 0.0, 3.0) == -math.inf


def test_an_uncertain_rate_makes_a_high_count_less_surprising_than_a_known_one() -> None:
    for n in (5, 10, 20):
        assert poisson_sf(n, 2.0) < negbin_sf(n, 2.0, 50.0) < negbin_sf(n, 2.0, 3.0) < negbin_sf(n, 2.0, 0.5)


@pytest.mark.parametrize("p", ["0.001", "0.1", "0.37", "0.5", "0.93"])
@pytest.mark.parametrize("n", [1, 7, 40, 300, 2000])
def test_the_binomial_tail_is_exact(n: int, p: str) -> None:
    frac = Fraction(p)
    reference = binomial_sf_references(n, frac)
    for k in sorted({0, 1, 2, n // 3, n // 2, int(n * float(frac)), int(n * float(frac)) + 1, n - 1, n, n + 1}):
        got = binomial_sf(k, n, float(frac))
        want = reference[k]
        assert close(got, want), (k, n, p, got, want)


def test_a_binomial_with_a_certain_outcome_is_certain() -> None:
    assert binomial_sf(1, 10, 0.0) == 0.0
    assert binomial_sf(10, 10, 1.0) == 1.0
    assert binomial_sf(11, 10, 1.0) == 0.0


def test_floor_div_is_python_floor_division_of_any_time() -> None:
    rng = random.Random(7)
    xs = [0.0, 59.999, 60.0, -0.5, -60.0, -60.5, 1772445307.016, 3599.9999999, 86400.0]
    xs += [rng.uniform(-1e6, 2e9) for _ in range(2000)]
    for x in xs:
        for size in (1, 60, 3600, 86400):
            assert floor_div(x, size) == int(x // size), (x, size)


def _integrated_llr(counts: list[int], weights: list[float], exps: list[float], a: float, size: float) -> float:
    """The ratio of :func:`growth_llr` at one rise ``a``, integrated over the level numerically: each
    hypothesis' likelihood averaged over a Gamma(size, size) level on a fine grid of log levels."""
    thetas = [math.exp(-8.0 + 16.0 * i / 40000) for i in range(40001)]

    def log_marginal(means: list[float]) -> float:
        logs = []
        for th in thetas:  # d theta = theta d log theta
            lik = sum(n * math.log(th * m) - th * m - math.lgamma(n + 1) for n, m in zip(counts, means, strict=True))
            prior = size * math.log(size) - math.lgamma(size) + (size - 1) * math.log(th) - size * th
            logs.append(lik + prior + math.log(th))
        top = max(logs)
        return top + math.log(sum(math.exp(x - top) for x in logs))

    rise = [e * (1 + a * w) for e, w in zip(exps, weights, strict=True)]
    return log_marginal(rise) - log_marginal(exps)


@pytest.mark.parametrize("size", [3.0, 40.0])
def test_the_growth_ratio_is_the_likelihood_ratio_integrated_over_the_level_at_its_best_rise(size: float) -> None:
    counts, weights, exps = [9, 4, 2, 1], [0.95, 0.7, 0.4, 0.1], [1.0, 1.0, 2.0, 4.0]
    expected = sum(exps)
    weighted = sum(e * w for e, w in zip(exps, weights, strict=True))
    best = growth_llr(counts, weights, expected, weighted, size)
    grid = [0.05 * k for k in range(1, 2001)]  # rises up to 100x
    closed = [sum(n * math.log1p(a * w) for n, w in zip(counts, weights, strict=True))
              - (size + sum(counts)) * math.log1p(a * weighted / (size + expected)) for a in grid]
    top = max(range(len(grid)), key=closed.__getitem__)
    assert 0 < closed[top] <= best <= closed[top] + 1e-3  # the maximum, to the grid's resolution
    # The closed form is the integral: at the best rise and at two others.
    for a in (grid[top], 0.5, 20.0):
        mine = sum(n * math.log1p(a * w) for n, w in zip(counts, weights, strict=True)) \
            - (size + sum(counts)) * math.log1p(a * weighted / (size + expected))
        assert mine == pytest.approx(_integrated_llr(counts, weights, exps, a, size), abs=1e-6)


def test_the_growth_ratio_is_zero_without_a_rise_and_grows_with_the_certainty_of_the_level() -> None:
    weights = [1.0, 0.5, 0.25]
    assert growth_llr([0, 0, 0], weights, 3.0, 1.75, 50.0) == 0.0
    assert growth_llr([1, 1, 1], weights, 3.0, 1.75, 50.0) == 0.0  # as expected: no rise fits better
    assert growth_llr([1, 2, 6], weights, 9.0, 3.5, 50.0) == 0.0  # a fall: more in the older spans
    vague, firm, exact = (growth_llr([9, 2, 1], weights, 3.0, 1.75, s) for s in (2.0, 50.0, 1e12))
    assert 0 < vague < firm < exact
    poisson = max(sum(n * math.log1p(a * w) for n, w in zip([9, 2, 1], weights, strict=True)) - a * 1.75
                  for a in (0.01 * k for k in range(1, 5000)))
    assert exact == pytest.approx(poisson, abs=1e-4)


def test_with_no_level_to_trust_the_growth_ratio_sees_only_how_the_counts_are_spread() -> None:
    """``size`` 0 (the detector's acceleration test): the level is fitted from the counts, so a
    level of any height scores the same, a level raised evenly scores 0, and what remains is the
    multinomial ratio of the counts' spread over the spans, rise-shaped against as expected."""
    counts, weights, exps = [9, 4, 2, 1], [0.95, 0.7, 0.4, 0.1], [1.0, 1.0, 2.0, 4.0]
    expected = sum(exps)
    weighted = sum(e * w for e, w in zip(exps, weights, strict=True))
    spread = growth_llr(counts, weights, expected, weighted, 0.0)
    assert spread > 0
    for scale in (0.1, 3.0, 50.0):
        assert growth_llr(counts, weights, scale * expected, scale * weighted, 0.0) == pytest.approx(spread, rel=1e-9)
    assert growth_llr([5, 5, 10, 20], weights, expected, weighted, 0.0) == pytest.approx(0.0, abs=1e-9)  # 5x, evenly
    def multinomial(a: float) -> float:  # the log likelihood of the spread, each span's share e_j (1 + a w_j) / sum
        means = [e * (1 + a * w) for e, w in zip(exps, weights, strict=True)]
        return sum(c * math.log(m / sum(means)) for c, m in zip(counts, means, strict=True))

    best = max(multinomial(10 ** (k / 2000)) for k in range(-6000, 20001))  # rises from 0.001x to 1e10x
    assert spread == pytest.approx(best - multinomial(0.0), abs=1e-3)
    # against a trusted level, the evenly raised one is a rise (the growth-shaped surprise test)
    assert growth_llr([5, 5, 10, 20], weights, expected, weighted, 1e12) > 10
