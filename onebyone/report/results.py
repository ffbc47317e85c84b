"""What a report is made of: plain data that the renderers turn into HTML, Markdown and JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from onebyone.report.verdicts import Verdict, combine


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
    """One claim of the articles, its parts decided (`verdicts`), and what was measured."""

    id: str  # "C1" … "C15"
    title: str
    statement: str  # the article's claim, translated, one line
    verdicts: list[Verdict]  # one per part of the claim (per network, where several were measured)
    reason: str  # the measured numbers behind the verdict, in one or two sentences
    findings: list[str] = field(default_factory=list)  # further measured facts, one line each
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    reproduce: str = ""  # a Python call or CLI command that shows the same thing
    seconds: float = 0.0  # time spent measuring this claim

    @property
    def verdict(self) -> str:
        """The claim's verdict: its parts' verdicts combined (verdicts.combine)."""
        return combine([v.decision for v in self.verdicts])


@dataclass
class ReportResult:
    """What `build_report` returns: every claim's result, the settings and the machine; what the
    renderers (report.render) write."""

    claims: list[ClaimResult]
    settings: dict  # the ReportConfig, as a dict
    machine: dict  # device, threads, torch version, platform
    started: str  # ISO time
    seconds: float
    notes: list[str] = field(default_factory=list)  # e.g. which trained models came from the cache

    def claim(self, claim_id: str) -> ClaimResult:
        for result in self.claims:
            if result.id == claim_id:
                return result
        raise KeyError(claim_id)
