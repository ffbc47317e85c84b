"""`onebyone report`: every claim of the articles (C1–C15), measured on this machine, with a verdict.

`build_report(ReportConfig(...))` measures and returns a `Report` (plain data); `write_html` and
`write_markdown` render it. Trained models are cached in the output folder.
"""

from onebyone.report.build import CLAIMS, build_report
from onebyone.report.config import ReportConfig
from onebyone.report.render import write_html, write_markdown
from onebyone.report.results import VERDICTS, ClaimResult, Figure, Report, Table

__all__ = [
    "CLAIMS",
    "VERDICTS",
    "ClaimResult",
    "Figure",
    "Report",
    "ReportConfig",
    "Table",
    "build_report",
    "write_html",
    "write_markdown",
]
