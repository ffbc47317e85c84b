"""`onebyone report`: every claim of the articles (C1–C15), measured on this machine, with a verdict.

Each claim is registered as data (report.registry: the article's statement, the criteria of its
parts, a measure function, a renderer). `build_report(ReportConfig(...))` measures them and returns
a `ReportResult` (plain data) whose verdicts carry their criterion and estimate with its 95% interval;
`write_html`, `write_markdown` and `write_json` render it. Trained models are cached in the output
folder.
"""

from onebyone.report.build import build_report
from onebyone.report.catalog import claims_in_order
from onebyone.report.config import ReportConfig, parse_seeds
from onebyone.report.registry import CLAIMS, Claim, register_claim
from onebyone.report.render import write_html, write_json, write_markdown
from onebyone.report.results import ClaimResult, Figure, ReportResult, Table
from onebyone.report.verdicts import VERDICTS, Band, Criterion, Verdict, decide, judge

__all__ = [
    "CLAIMS",
    "VERDICTS",
    "Band",
    "Claim",
    "ClaimResult",
    "Criterion",
    "Figure",
    "ReportResult",
    "ReportConfig",
    "Table",
    "Verdict",
    "build_report",
    "claims_in_order",
    "decide",
    "judge",
    "parse_seeds",
    "register_claim",
    "write_html",
    "write_json",
    "write_markdown",
]
