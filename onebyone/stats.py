"""Small-sample statistics for measured effects: Student-t intervals, ratio intervals, rank correlation.

Only the standard library: Student's t distribution function for integer degrees of freedom is a
finite trigonometric series, and its quantile is found by bisection.

    estimate = mean_interval([0.8, 1.1, 0.9], over="seeds")     # Estimate(value, low, high, n, ...)
    ratio = ratio_interval([3.4, 3.6, 3.5])                       # geometric mean, interval on log scale
    rho = spearman([1, 2, 3, 4], [0.1, 0.3, 0.2, 0.5])            # 0.8
    share = proportion_interval(37, 40, over="collages")          # 0.925, Wilson interval
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from onebyone.errors import OneByOneError


@dataclass(frozen=True)
class Estimate:
    """A measured quantity with its confidence interval.

    `low`/`high` are None when the interval is unbounded (one sample only). An exact quantity
    (a parameter count) has low == high == value and n == 1.
    """

    value: float
    low: float | None
    high: float | None
    n: int  # how many samples the interval rests on (seeds, timing rounds); 1 for exact values
    over: str = "exact"  # what was repeated: "seeds", "rounds", or "exact"
    confidence: float = 0.95
    samples: tuple[float, ...] = field(default=())  # the per-sample values (empty for exact values)

    @classmethod
    def exact(cls, value: float) -> Estimate:
        return cls(float(value), float(value), float(value), 1)

    @property
    def spread(self) -> tuple[float, float] | None:
        """Smallest and largest sample, or None for an exact value."""
        return (min(self.samples), max(self.samples)) if self.samples else None

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.samples) if len(self.samples) >= 2 else None


def _t_central(t: float, df: int) -> float:
    """P(|T| ≤ t) for Student's t with integer `df`: the finite series in θ = atan(t/√df)
    (Abramowitz and Stegun 26.7.3–4)."""
    theta = math.atan(t / math.sqrt(df))
    cos2, term = math.cos(theta) ** 2, 1.0
    if df % 2 == 0:
        total = 1.0
        for k in range(1, df // 2):  # terms cos^(2k)θ · (1·3…(2k−1)) / (2·4…2k)
            term *= cos2 * (2 * k - 1) / (2 * k)
            total += term
        return math.sin(theta) * total
    if df == 1:
        return 2 * theta / math.pi
    term = total = math.cos(theta)
    for k in range(1, (df - 1) // 2):  # terms cos^(2k+1)θ · (2·4…2k) / (3·5…(2k+1))
        term *= cos2 * (2 * k) / (2 * k + 1)
        total += term
    return 2 / math.pi * (theta + math.sin(theta) * total)


@functools.lru_cache(maxsize=256)
def t_quantile(df: int, confidence: float = 0.95) -> float:
    """The two-sided critical value of Student's t: P(|T| ≤ q) = confidence (integer df ≥ 1)."""
    if int(df) != df or df < 1:
        raise OneByOneError(f"degrees of freedom must be an integer ≥ 1, got {df}")
    df = int(df)
    if not 0 < confidence < 1:
        raise OneByOneError(f"confidence must be in (0, 1), got {confidence}")
    low, high = 0.0, 1.0
    while _t_central(high, df) < confidence:
        high *= 2
    for _ in range(80):
        middle = (low + high) / 2
        low, high = (middle, high) if _t_central(middle, df) < confidence else (low, middle)
    return (low + high) / 2


def mean_interval(values: Sequence[float], *, confidence: float = 0.95, over: str = "seeds") -> Estimate:
    """The mean of `values` with its Student-t confidence interval (unbounded for one value)."""
    values = [float(v) for v in values]
    if not values:
        raise OneByOneError("no values to estimate from")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, None, None, 1, over, confidence, tuple(values))
    half = t_quantile(len(values) - 1, confidence) * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values), over, confidence, tuple(values))


def ratio_interval(ratios: Sequence[float], *, confidence: float = 0.95, over: str = "rounds") -> Estimate:
    """The geometric mean of positive ratios with a t-interval on the log scale (then exponentiated)."""
    if not ratios or min(ratios) <= 0:
        raise OneByOneError(f"ratios must be positive, got {list(ratios)}")
    logs = mean_interval([math.log(r) for r in ratios], confidence=confidence, over=over)
    back = lambda v: None if v is None else math.exp(v)  # noqa: E731
    return Estimate(
        math.exp(logs.value),
        back(logs.low),
        back(logs.high),
        logs.n,
        over,
        confidence,
        tuple(map(float, ratios)),
    )


def proportion_interval(
    successes: int, trials: int, *, confidence: float = 0.95, over: str = "trials"
) -> Estimate:
    """The share successes/trials with its Wilson score interval (Wilson, JASA 1927).

    Unlike p ± z·√(p(1−p)/n) it stays inside [0, 1] and is not of width zero at 0 or n successes.
    The samples are the trials as 1s and 0s.
    """
    if int(trials) != trials or int(successes) != successes or trials < 1 or not 0 <= successes <= trials:
        raise OneByOneError(f"need 0 ≤ successes ≤ trials and trials ≥ 1, got {successes} of {trials}")
    if not 0 < confidence < 1:
        raise OneByOneError(f"confidence must be in (0, 1), got {confidence}")
    n, share = int(trials), successes / trials
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    samples = (1.0,) * int(successes) + (0.0,) * (n - int(successes))
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # the interval always holds the share; min/max only undo round-off (1.0 against 0.9999999999999998)
    return Estimate(share, min(low, share), max(high, share), n, over, confidence, samples)


def _ranks(values: Sequence[float]) -> list[float]:
    """Ranks from 1, ties sharing their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of two equally long sequences (0 when either is constant)."""
    if len(x) != len(y) or len(x) < 2:
        raise OneByOneError(f"spearman needs two sequences of equal length ≥ 2, got {len(x)} and {len(y)}")
    rx, ry = _ranks(x), _ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    norm = math.sqrt(sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry))
    return cov / norm if norm else 0.0


def samples_needed(estimate: Estimate, margin: float, *, limit: int = 100) -> int | None:
    """How many samples (at the observed spread) would make the interval's half-width < `margin`.

    None when the spread is unknown (fewer than two samples) or more than `limit` would be needed.
    """
    sd = estimate.sd
    if sd is None or margin <= 0:
        return None
    if sd == 0:
        return 2
    for n in range(2, limit + 1):
        if t_quantile(n - 1, estimate.confidence) * sd / math.sqrt(n) < margin:
            return n
    return None
