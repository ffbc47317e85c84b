"""What a report is made of: plain data that the renderers turn into HTML and Markdown."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

HOLDS = "holds"
APPROXIMATELY = "holds approximately"
DOES_NOT_HOLD = "does not hold"
VERDICTS = (HOLDS, APPROXIMATELY, DOES_NOT_HOLD)


@dataclass
class Table:
    """A small table; cells are already formatted strings or plain numbers."""

    title: str
    columns: list[str]
    rows: list[list]


@dataclass
class Figure:
    """A PNG written under the report's `figures/` folder."""

    title: str
    path: Path
    caption: str = ""


@dataclass
class ClaimResult:
    """One claim of the articles, what was measured, and the verdict the measurement supports."""

    id: str  # "C1" … "C15"
    title: str
    statement: str  # the article's claim, translated, one line
    verdict: str  # one of VERDICTS
    reason: str  # why this verdict, in one or two sentences with the numbers
    findings: list[str] = field(default_factory=list)  # measured facts, one line each
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    reproduce: str = ""  # a Python call or CLI command that shows the same thing
    seconds: float = 0.0  # time spent measuring this claim

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")


@dataclass
class Report:
    claims: list[ClaimResult]
    settings: dict  # the ReportConfig, as a dict
    machine: dict  # threads, torch version, platform
    started: str  # ISO time
    seconds: float
    notes: list[str] = field(default_factory=list)  # e.g. which trained models came from the cache

    def claim(self, claim_id: str) -> ClaimResult:
        for result in self.claims:
            if result.id == claim_id:
                return result
        raise KeyError(claim_id)
