"""Write a `ReportResult` as one self-contained HTML page, a Markdown twin and JSON (schema version 2).

The three read the same `Verdict` fields: the part of the claim, the criterion sentence, the
estimate with its interval, the decision. The HTML and Markdown pages are made in render_html and
render_markdown; the lines both pages share are in report.format.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from onebyone.files import atomic_write
from onebyone.records import json_text
from onebyone.report.render_html import html_page
from onebyone.report.render_markdown import markdown_page
from onebyone.report.results import ReportResult
from onebyone.report.verdicts import Band, Verdict

SCHEMA_VERSION = 2  # 2: verdicts per part with criterion, estimate and 95% interval; "not shown"


# --- JSON -------------------------------------------------------------------------------------


def _finite(value: float | None) -> float | None:
    return value if value is None or math.isfinite(value) else None


def _band(band: Band | None) -> dict[str, float | None] | None:
    return None if band is None else {"low": _finite(band.low), "high": _finite(band.high)}


def verdict_dict(verdict: Verdict) -> dict:
    c, e = verdict.criterion, verdict.estimate
    return {
        "statement": c.statement,
        "subject": c.subject,
        "measurement": c.measurement,
        "criterion": c.sentence(e.confidence),
        "holds": _band(c.holds),
        "approximately": _band(c.approximately),
        "estimate": {
            "value": e.value,
            "low": e.low,
            "high": e.high,
            "n": e.n,
            "over": e.over,
            "confidence": e.confidence,
            "samples": list(e.samples),
        },
        "decision": verdict.decision,
        "needs": verdict.needs,
    }


def report_dict(report: ReportResult) -> dict:
    claims = []
    for c in report.claims:
        claims.append(
            {
                "id": c.id,
                "title": c.title,
                "statement": c.statement,
                "verdict": c.verdict,
                "reason": c.reason,
                "verdicts": [verdict_dict(v) for v in c.verdicts],
                "findings": c.findings,
                "tables": [dataclasses.asdict(t) for t in c.tables],
                "figures": [{"title": f.title, "path": str(f.path), "caption": f.caption} for f in c.figures],
                "reproduce": c.reproduce,
                "seconds": c.seconds,
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "started": report.started,
        "seconds": report.seconds,
        "settings": report.settings,
        "machine": report.machine,
        "notes": report.notes,
        "claims": claims,
    }


# --- files ------------------------------------------------------------------------------------


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_html(report: ReportResult, path: str | Path) -> Path:
    return _write(Path(path), html_page(report))


def write_markdown(report: ReportResult, path: str | Path) -> Path:
    path = Path(path)
    return _write(path, markdown_page(report, path.parent))


def write_json(report: ReportResult, path: str | Path) -> Path:
    """The measurements as JSON (figures by path), for scripts."""
    return _write(Path(path), json_text(report_dict(report), indent=2, default=str) + "\n")
