"""The report as Markdown, figures linked from the `figures/` folder beside it."""

from __future__ import annotations

import os
from pathlib import Path

from onebyone.records import json_text
from onebyone.report.format import estimate_text, machine_line, settings_line, verdict_subject
from onebyone.report.results import ReportResult, Table
from onebyone.report.verdicts import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, NOT_SHOWN

MARK = {HOLDS: "✅", APPROXIMATELY: "🟡", DOES_NOT_HOLD: "❌", NOT_SHOWN: "⬜"}


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def table_markdown(table: Table) -> str:
    lines = [
        f"**{table.title}**",
        "",
        "| " + " | ".join(_cell(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown_page(report: ReportResult, relative_to: Path) -> str:
    lines = [
        "# The 1×1 convolution, measured",
        "",
        f"onebyone report · {report.started} · {report.seconds:.0f} s · {settings_line(report)}; "
        f"{machine_line(report)}",
        "",
        "| claim | what | verdict |",
        "|---|---|---|",
    ]
    lines += [
        f"| [{c.id}](#{c.id.lower()}) | {c.title} | {MARK[c.verdict]} {c.verdict} |" for c in report.claims
    ]
    for c in report.claims:
        lines += [
            "",
            f"## {c.id}",
            "",
            f"**{c.title}**",
            "",
            f"*Article:* {c.statement}",
            "",
            f"**Verdict: {c.verdict}.** {c.reason}",
            "",
        ]
        for v in c.verdicts:
            needs = f" {v.needs}." if v.needs else ""
            lines.append(
                f"- {MARK[v.decision]} **{v.decision}**: {verdict_subject(v)}. {v.criterion.measurement}: "
                f"{estimate_text(v.estimate)}. "
                f"*Criterion:* {v.criterion.sentence(v.estimate.confidence)}{needs}"
            )
        lines += [""] + [f"- {f}" for f in c.findings]
        for table in c.tables:
            lines += ["", table_markdown(table)]
        for figure in c.figures:
            rel = os.path.relpath(figure.path, relative_to)
            lines += ["", f"![{figure.title}]({rel})", "", f"*{figure.title}.* {figure.caption}"]
        lines += ["", f"Reproduce: `{c.reproduce}` · measured in {c.seconds:.1f} s"]
    lines += ["", "## Notes", ""] + [
        f"- {n}" for n in report.notes or ["every trained model was trained in this run"]
    ]
    lines += ["", "Machine: " + json_text(report.machine, indent=None)]
    return "\n".join(lines) + "\n"
