"""Verdicts as data: a criterion (bands of values where a claim holds) judged against an estimate.

The decision is a pure function of the estimate's interval and the criterion's bands:

- *holds*: the whole interval lies in the `holds` band;
- *holds approximately*: it lies in the wider `approximately` band (when the criterion has one);
- *does not hold*: it lies entirely outside the widest band;
- *not shown*: it straddles an edge: the measurement cannot tell at this budget.

An exact quantity (a parameter count) is an interval of width zero, so it is decided the same way.
`combine` turns the verdicts of a claim's parts into the claim's one verdict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from onebyone.stats import Estimate, samples_needed

HOLDS = "holds"
APPROXIMATELY = "holds approximately"
DOES_NOT_HOLD = "does not hold"
NOT_SHOWN = "not shown"
VERDICTS = (HOLDS, APPROXIMATELY, DOES_NOT_HOLD, NOT_SHOWN)


def _number(value: float) -> str:
    return f"{value:.4g}"


@dataclass(frozen=True)
class Band:
    """The closed range [low, high] of a measured value (either end may be infinite)."""

    low: float = -math.inf
    high: float = math.inf

    def contains(self, low: float, high: float) -> bool:
        return self.low <= low and high <= self.high

    def misses(self, low: float, high: float) -> bool:
        """True when [low, high] and the band do not meet."""
        return high < self.low or low > self.high

    def describe(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return "anywhere"
        if math.isinf(self.low):
            return f"≤ {_number(self.high)}"
        if math.isinf(self.high):
            return f"≥ {_number(self.low)}"
        if self.low == self.high:
            return f"= {_number(self.low)}"
        return f"within {_number(self.low)}–{_number(self.high)}"

    def describe_outside(self) -> str:
        if math.isinf(self.low) and math.isinf(self.high):
            return "nowhere"
        if math.isinf(self.low):
            return f"> {_number(self.high)}"
        if math.isinf(self.high):
            return f"< {_number(self.low)}"
        if self.low == self.high:
            return f"≠ {_number(self.low)}"
        return f"outside {_number(self.low)}–{_number(self.high)}"


def above(value: float) -> Band:
    return Band(low=value)


def below(value: float) -> Band:
    return Band(high=value)


def around(value: float, tolerance: float) -> Band:
    """value·(1 ± tolerance): the band of an "about X" claim."""
    return Band(value * (1 - tolerance), value * (1 + tolerance))


@dataclass(frozen=True)
class Criterion:
    """What one part of a claim needs. `key` names the estimate the claim's measurement provides."""

    key: str
    statement: str  # the part of the claim this tests, e.g. "GAP overfits less than the FC head"
    measurement: str  # the measured quantity and its unit
    holds: Band
    approximately: Band | None = None
    subject: str = ""  # the network or module measured, when a claim is tested on several

    def sentence(self, confidence: float = 0.95) -> str:
        """The criterion in one sentence, from the bands themselves."""
        widest = self.approximately or self.holds
        level = f"{confidence:.0%} interval"
        parts = [f"holds if the {level} of {self.measurement} lies {self.holds.describe()}"]
        if self.approximately is not None:
            parts.append(f"holds approximately if it lies {self.approximately.describe()}")
        parts.append(f"does not hold if it lies wholly {widest.describe_outside()}")
        return "; ".join(parts) + "; otherwise not shown."


@dataclass(frozen=True)
class Verdict:
    """One part of a claim decided: the criterion, the estimate with its interval, the decision."""

    criterion: Criterion
    estimate: Estimate
    decision: str  # one of VERDICTS
    needs: str = ""  # for "not shown": the budget that would decide it

    def __post_init__(self) -> None:
        if self.decision not in VERDICTS:
            raise ValueError(f"decision must be one of {VERDICTS}, got {self.decision!r}")


def decide(estimate: Estimate, holds: Band, approximately: Band | None = None) -> str:
    """The decision for an estimate's interval (unbounded ends when it rests on one sample)."""
    low = -math.inf if estimate.low is None else estimate.low
    high = math.inf if estimate.high is None else estimate.high
    if holds.contains(low, high):
        return HOLDS
    if approximately is not None and approximately.contains(low, high):
        return APPROXIMATELY
    if (approximately or holds).misses(low, high):
        return DOES_NOT_HOLD
    return NOT_SHOWN


def _budget(criterion: Criterion, estimate: Estimate) -> str:
    """For an undecided estimate: how many samples at the observed spread would decide it."""
    if estimate.n < 2:
        return f"one {estimate.over.removesuffix('s')} gives no interval; at least 2 are needed"
    edges = [
        edge
        for band in (criterion.holds, criterion.approximately)
        if band is not None
        for edge in (band.low, band.high)
        if math.isfinite(edge)
    ]
    if not edges:
        return ""
    nearest = min(edges, key=lambda edge: abs(estimate.value - edge))
    needed = samples_needed(estimate, abs(estimate.value - nearest))
    if needed is None:
        return (
            f"the estimate sits at the edge {_number(nearest)}: more than 100 {estimate.over} would be needed"
        )
    return f"about {needed} {estimate.over} at this spread would decide it"


def judge(criterion: Criterion, estimate: Estimate) -> Verdict:
    decision = decide(estimate, criterion.holds, criterion.approximately)
    needs = _budget(criterion, estimate) if decision == NOT_SHOWN else ""
    return Verdict(criterion, estimate, decision, needs)


def combine(decisions: list[str]) -> str:
    """A claim's verdict from its parts: all alike → that; some hold → approximately; else the worst.

    Parts that hold (or hold approximately) next to parts that do not, or are not shown, make
    "holds approximately"; with no part holding, any "does not hold" decides, else "not shown".
    """
    if not decisions:
        raise ValueError("a claim needs at least one verdict")
    if len(set(decisions)) == 1:
        return decisions[0]
    if any(d in (HOLDS, APPROXIMATELY) for d in decisions):
        return APPROXIMATELY
    return DOES_NOT_HOLD if DOES_NOT_HOLD in decisions else NOT_SHOWN
