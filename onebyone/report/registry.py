"""The claims registry: each claim is one registration of data (the article's statement, the
criteria of its parts) and two functions (measure, render).

    register_claim(Claim(
        "C10", "…title…", "…the article's statement…",
        criteria=(Criterion("time_ratio", "…", "time ratio", holds=around(3.7, 0.2)),),
        measure=measure_c10,          # ReportContext -> Measured[ReductionCost] (estimates + data)
        render=render_c10,            # (Measured[ReductionCost], ReportContext) -> Rendered
        reproduce="onebyone report --only C10",
    ))

`judge_claim` decides each criterion against the estimate under its key; the page, the JSON and the
tests all read those `Verdict`s. A claim measured on several networks lists one criterion per network
(`subject`); measuring one more network is one more entry where that claim lists its networks. Parts
that need something optional installed (EfficientNet-Lite0's weights) are `optional` criteria.

What a claim's measure hands its render is a frozen dataclass of that claim's own (`Measured.data`,
e.g. claims.timing.ReductionCost), its fields named with their units; `Claim[D]` ties the measure
and the render to the same one. What one claim hands a later one is a typed field of the
`ReportContext`, never a string key. The registry imports no claim: report.catalog registers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from onebyone.report.results import Figure, Table
from onebyone.report.verdicts import Criterion, Verdict, judge
from onebyone.stats import Estimate

if TYPE_CHECKING:
    from onebyone.report.context import ReportContext

D = TypeVar("D")  # a claim's own measurement dataclass


@dataclass
class Measured(Generic[D]):
    """What a claim's measure function returns: estimates by criterion key, and what the renderer needs."""

    estimates: dict[str, Estimate]
    data: D  # the claim's measurement (a frozen dataclass of its module), read by its render
    criteria: tuple[Criterion, ...] = ()  # criteria that depend on the measurement (e.g. a chance rate)
    unmeasured: str = ""  # why the claim's optional parts were not measured (e.g. weights not installed)


@dataclass
class Rendered:
    reason: str  # the numbers behind the verdict, one or two sentences
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Claim(Generic[D]):
    id: str
    title: str
    statement: str
    criteria: tuple[Criterion, ...]  # fixed criteria; Measured.criteria adds measured ones
    measure: Callable[[ReportContext], Measured[D]]
    render: Callable[[Measured[D], ReportContext], Rendered]
    reproduce: str = ""
    needs: tuple[str, ...] = ()  # trained variants (report.variants.VARIANTS) it measures, every seed
    # parts measured only when what they need is installed (pretrained weights): judged unless the
    # measurement says why they were not measured (Measured.unmeasured), which the page then shows
    optional: tuple[Criterion, ...] = ()

    @property
    def number(self) -> int:
        return int(self.id.removeprefix("C"))


CLAIMS: dict[str, Claim[Any]] = {}


def register_claim(claim: Claim[D]) -> Claim[D]:
    if claim.id in CLAIMS:
        raise ValueError(f"claim {claim.id} registered twice")
    CLAIMS[claim.id] = claim
    return claim


def judge_claim(claim: Claim[D], measured: Measured[D]) -> list[Verdict]:
    optional = () if measured.unmeasured else claim.optional
    criteria = claim.criteria + measured.criteria + optional
    missing = [c.key for c in criteria if c.key not in measured.estimates]
    if missing:
        raise KeyError(f"{claim.id}: no estimate for {missing}")
    return [judge(criterion, measured.estimates[criterion.key]) for criterion in criteria]
