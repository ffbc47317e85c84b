"""The report as one self-contained HTML page: figures inlined, every verdict with its criterion."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from onebyone.report.format import estimate_text, machine_line, settings_line, verdict_subject
from onebyone.report.results import ClaimResult, ReportResult, Table
from onebyone.report.verdicts import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, NOT_SHOWN, Verdict

BADGE = {HOLDS: "holds", APPROXIMATELY: "approx", DOES_NOT_HOLD: "fails", NOT_SHOWN: "unshown"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:.25em .55em;
text-align:left;vertical-align:top} th{background:#f3f3f3}
section.claim{border-top:2px solid #ddd;margin-top:1.6em;padding-top:.4em}
.statement{font-style:italic;color:#444} .verdict{display:inline-block;padding:.1em .6em;border-radius:1em;
font-weight:600;font-size:.85em;color:#fff;white-space:nowrap} .holds{background:#2e7d32}
.approx{background:#b7791f} .fails{background:#c62828} .unshown{background:#6b7280}
td.criterion{font-size:.85em;color:#555;border-top:none} tr.part td{border-bottom:none}
code,pre{background:#f6f6f6;padding:.1em .3em;border-radius:3px;font-size:.88em}
figure{margin:.8em 0} figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#555} .small{font-size:.85em;color:#666}
"""

# After load: count figures that decoded, so a headless browser (and a reader) can check the page.
_SCRIPT = """
window.addEventListener('load', function () {
  var images = Array.prototype.slice.call(document.querySelectorAll('figure img'));
  var loaded = images.filter(function (img) { return img.complete && img.naturalWidth > 0; }).length;
  document.body.setAttribute('data-figures-total', images.length);
  document.body.setAttribute('data-figures-loaded', loaded);
  document.getElementById('figure-check').textContent = loaded + ' of ' + images.length + ' figures loaded';
});
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def badge(verdict: str) -> str:
    return f"<span class='verdict {BADGE[verdict]}'>{_esc(verdict)}</span>"


def table_html(table: Table) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<p><b>{_esc(table.title)}</b></p><table><tr>{head}</tr>{body}</table>"


def verdicts_html(verdicts: list[Verdict]) -> str:
    """A row per part: what, measured estimate with interval, decision; its criterion sentence below."""
    rows = []
    for v in verdicts:
        criterion = v.criterion.sentence(v.estimate.confidence) + (f" {v.needs}." if v.needs else "")
        rows.append(
            f"<tr class='part' data-decision='{_esc(v.decision)}'><td>{_esc(verdict_subject(v))}</td>"
            f"<td>{_esc(v.criterion.measurement)}: {_esc(estimate_text(v.estimate))}</td>"
            f"<td>{badge(v.decision)}</td></tr>"
            f"<tr><td class='criterion' colspan='3'>Criterion: {_esc(criterion)}</td></tr>"
        )
    head = "<tr><th>part of the claim</th><th>measured (95% interval)</th><th>verdict</th></tr>"
    return f"<table class='verdicts'>{head}{''.join(rows)}</table>"


def _image_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def claim_section(c: ClaimResult) -> str:
    parts = [
        f"<section class='claim' id='{c.id}' data-verdict='{_esc(c.verdict)}'>",
        f"<h2>{c.id}. {_esc(c.title)}</h2>",
        f"<p class='statement'>Article: {_esc(c.statement)}</p>",
        f"<p>{badge(c.verdict)} {_esc(c.reason)}</p>",
        verdicts_html(c.verdicts),
    ]
    if c.findings:
        parts.append("<ul>" + "".join(f"<li>{_esc(f)}</li>" for f in c.findings) + "</ul>")
    parts += [table_html(t) for t in c.tables]
    for figure in c.figures:
        parts.append(
            f"<figure><img alt='{_esc(figure.title)}' src='{_image_data(figure.path)}'>"
            f"<figcaption><b>{_esc(figure.title)}</b>. {_esc(figure.caption)}</figcaption></figure>"
        )
    parts.append(
        f"<p class='small'>Reproduce: <code>{_esc(c.reproduce)}</code> · measured in {c.seconds:.1f} s</p>"
    )
    parts.append("</section>")
    return "\n".join(parts)


def html_page(report: ReportResult) -> str:
    counts = {v: sum(c.verdict == v for c in report.claims) for v in BADGE}
    summary = "".join(
        f"<tr><td><a href='#{c.id}'>{c.id}</a></td><td>{_esc(c.title)}</td><td>{badge(c.verdict)}</td></tr>"
        for c in report.claims
    )
    notes = "".join(f"<li>{_esc(n)}</li>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>onebyone report: the 1×1 convolution, measured</title>
<style>{_CSS}</style><script>{_SCRIPT}</script></head>
<body>
<h1>The 1×1 convolution, measured</h1>
<p class="sub">onebyone report · {_esc(report.started)} · {report.seconds:.0f} s ·
{_esc(settings_line(report))}</p>
<p>Each claim the articles make about 1×1 convolutions, what onebyone measured
({_esc(machine_line(report))}), and the verdict the measurement supports. A claim's parts are decided
from 95% intervals: <i>holds</i> when the interval lies where the claim needs it, <i>holds
approximately</i> within the looser band stated, <i>does not hold</i> when it lies wholly outside,
<i>not shown</i> when this budget cannot tell. A claim holds approximately when some of its parts hold
and others do not.
{counts[HOLDS]} hold, {counts[APPROXIMATELY]} hold approximately, {counts[DOES_NOT_HOLD]} do not hold,
{counts[NOT_SHOWN]} not shown.</p>
<table><tr><th>claim</th><th>what</th><th>verdict</th></tr>{summary}</table>
{"".join(claim_section(c) for c in report.claims)}
<section><h2>Notes</h2><ul>{notes or "<li>every trained model was trained in this run</li>"}</ul>
<p class="small" id="figure-check">figures not checked (JavaScript off)</p></section>
</body></html>
"""
