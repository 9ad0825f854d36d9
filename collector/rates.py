"""Is a rate of events different after a change? Two Poisson rates with their exposures, compared.

Before a change ``x_b`` events happened in exposure ``t_b`` (active hours),
after it ``x_a`` in ``t_a``. If the rate did not change, then given the total
``n = x_b + x_a``, ``x_a`` follows a binomial law of ``n`` trials with
``p0 = t_a / (t_a + t_b)`` (the conditional test of two Poisson rates, as R's
``poisson.test`` does it). :func:`compare` gives the two-sided p-value: exact
(the probabilities of all outcomes no likelier than the one observed, summed,
as R's ``binom.test``) up to :data:`EXACT_MAX` events, else from the normal
approximation, which is then as good. Pure standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

EXACT_MAX = 20_000  # events: beyond, the normal approximation (the exact sum costs a loop over n)
_RELATIVE = 1 + 1e-7  # outcomes as likely as the observed one within rounding count as "no likelier"


@dataclass(frozen=True)
class Comparison:
    """Two rates compared: ``ratio`` is after / before (None without a before rate), ``p_value`` two-sided."""

    ratio: float | None
    p_value: float


def compare(before: int, before_exposure: float, after: int, after_exposure: float) -> Comparison | None:
    """Compare the rate ``after / after_exposure`` to ``before / before_exposure``; None without exposure."""
    if before_exposure <= 0 or after_exposure <= 0:
        return None
    rate_before = before / before_exposure
    ratio = (after / after_exposure) / rate_before if rate_before > 0 else None
    n = before + after
    p0 = after_exposure / (before_exposure + after_exposure)
    return Comparison(ratio, binomial_p_value(after, n, p0))


def binomial_p_value(x: int, n: int, p: float) -> float:
    """Two-sided p-value of ``x`` successes in ``n`` trials of probability ``p``."""
    if n == 0:
        return 1.0
    if n > EXACT_MAX:
        z = (x - n * p) / math.sqrt(n * p * (1 - p))
        return math.erfc(abs(z) / math.sqrt(2))
    observed = _log_pmf(x, n, p)
    limit = observed + math.log(_RELATIVE)
    total = math.fsum(math.exp(lp) for lp in (_log_pmf(k, n, p) for k in range(n + 1)) if lp <= limit)
    return min(1.0, total)


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0 or p >= 1:
        return 0.0 if k == (n if p >= 1 else 0) else -math.inf
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))
