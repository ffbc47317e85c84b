"""How the report writes an estimate: the value with its 95% interval."""

from __future__ import annotations

from onebyone.analysis.stats import Estimate


def interval_text(estimate: Estimate, digits: int = 2, unit: str = "") -> str:
    """ "1.23 (0.80 to 1.66)", or the value alone when exact, or "(one seed)" without an interval."""
    value = f"{estimate.value:+.{digits}f}" if unit == "signed" else f"{estimate.value:.{digits}f}"
    suffix = "" if unit == "signed" else unit
    if estimate.n == 1 and estimate.over == "exact":
        return value + suffix
    if estimate.low is None:
        return f"{value}{suffix} (one {estimate.over.removesuffix('s')})"
    return f"{value}{suffix} ({estimate.low:.{digits}f} to {estimate.high:.{digits}f})"


def ratio_text(estimate: Estimate) -> str:
    """ "3.41× (3.30 to 3.52)": a ratio with its 95% interval."""
    return interval_text(estimate, 2, "×")


def _g(value: float) -> str:
    return f"{value:.3g}"


def estimate_text(estimate: Estimate) -> str:
    """An estimate in three significant digits with its interval and what it rests on:
    "3.12 (1.05 to 5.19; 3 seeds)", "0.683 (exact)", "0.41 (one seed: no interval)"."""
    if estimate.over == "exact":
        return f"{_g(estimate.value)} (exact)"
    if estimate.low is None:
        return f"{_g(estimate.value)} (one {estimate.over.removesuffix('s')}: no interval)"
    return f"{_g(estimate.value)} ({_g(estimate.low)} to {_g(estimate.high)}; {estimate.n} {estimate.over})"
