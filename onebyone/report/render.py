"""Render a `Report` as one self-contained HTML page (figures inlined) and as a Markdown twin."""

from __future__ import annotations

import base64
import html
import json
import os
from pathlib import Path

from onebyone.files import atomic_write
from onebyone.report.results import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, Report, Table

_BADGE = {HOLDS: "holds", APPROXIMATELY: "approx", DOES_NOT_HOLD: "fails"}
_MARK = {HOLDS: "✅", APPROXIMATELY: "🟡", DOES_NOT_HOLD: "❌"}

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{margin-bottom:.2em} .sub{color:#666;margin-top:0}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:.25em .55em;
text-align:left;vertical-align:top} th{background:#f3f3f3}
section.claim{border-top:2px solid #ddd;margin-top:1.6em;padding-top:.4em}
.statement{font-style:italic;color:#444} .verdict{display:inline-block;padding:.1em .6em;border-radius:1em;
font-weight:600;font-size:.85em;color:#fff} .holds{background:#2e7d32} .approx{background:#b7791f}
.fails{background:#c62828} code,pre{background:#f6f6f6;padding:.1em .3em;border-radius:3px;font-size:.88em}
pre{padding:.5em;white-space:pre-wrap} figure{margin:.8em 0} figure img{max-width:100%;border:1px solid #eee}
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


def _esc(value) -> str:
    return html.escape(str(value))


def _table_html(table: Table) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in table.columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(v)}</td>" for v in row) + "</tr>" for row in table.rows)
    return f"<p><b>{_esc(table.title)}</b></p><table><tr>{head}</tr>{body}</table>"


def _image_data(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _settings_line(report: Report) -> str:
    s = report.settings
    subset = "all" if s["train_subset"] is None else f"{s['train_subset']:,}"
    mode = "quick" if s["quick"] else "default"
    return (
        f"{mode} settings: {s['seeds']} seed(s), {s['epochs']} epochs on {subset} training images, "
        f"width {s['width']:g}; latency batch {s['latency_batch']}, median of {s['latency_repeats']}"
    )


def html_page(report: Report) -> str:
    m = report.machine
    counts = {v: sum(c.verdict == v for c in report.claims) for v in _BADGE}
    summary = "".join(
        f"<tr><td><a href='#{c.id}'>{c.id}</a></td><td>{_esc(c.title)}</td>"
        f"<td><span class='verdict {_BADGE[c.verdict]}'>{_esc(c.verdict)}</span></td></tr>"
        for c in report.claims
    )
    sections = []
    for c in report.claims:
        parts = [
            f"<section class='claim' id='{c.id}' data-verdict='{_esc(c.verdict)}'>",
            f"<h2>{c.id}. {_esc(c.title)}</h2>",
            f"<p class='statement'>Article: {_esc(c.statement)}</p>",
            f"<p><span class='verdict {_BADGE[c.verdict]}'>{_esc(c.verdict)}</span> {_esc(c.reason)}</p>",
        ]
        if c.findings:
            parts.append("<ul>" + "".join(f"<li>{_esc(f)}</li>" for f in c.findings) + "</ul>")
        parts += [_table_html(t) for t in c.tables]
        for figure in c.figures:
            parts.append(
                f"<figure><img alt='{_esc(figure.title)}' src='{_image_data(figure.path)}'>"
                f"<figcaption><b>{_esc(figure.title)}</b>. {_esc(figure.caption)}</figcaption></figure>"
            )
        parts.append(
            f"<p class='small'>Reproduce: <code>{_esc(c.reproduce)}</code> · "
            f"measured in {c.seconds:.1f} s</p>"
        )
        parts.append("</section>")
        sections.append("\n".join(parts))
    notes = "".join(f"<li>{_esc(n)}</li>" for n in report.notes)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>onebyone report: the 1×1 convolution, measured</title>
<style>{_CSS}</style><script>{_SCRIPT}</script></head>
<body>
<h1>The 1×1 convolution, measured</h1>
<p class="sub">onebyone report · {_esc(report.started)} · {report.seconds:.0f} s ·
{_esc(_settings_line(report))}</p>
<p>Each claim the articles make about 1×1 convolutions, what onebyone measured on this machine
({_esc(m["processor"])}, {m["threads"]} threads, torch {_esc(m["torch"])}, load average at start
{_esc(m["load_average_at_start"])}), and the verdict the measurement supports:
{counts[HOLDS]} hold, {counts[APPROXIMATELY]} hold approximately, {counts[DOES_NOT_HOLD]} do not hold.</p>
<table><tr><th>claim</th><th>what</th><th>verdict</th></tr>{summary}</table>
{"".join(sections)}
<section><h2>Notes</h2><ul>{notes or "<li>every trained model was trained in this run</li>"}</ul>
<p class="small" id="figure-check">figures not checked (JavaScript off)</p></section>
</body></html>
"""


def _table_markdown(table: Table) -> str:
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    lines = [
        f"**{table.title}**",
        "",
        "| " + " | ".join(cell(c) for c in table.columns) + " |",
        "|" + "---|" * len(table.columns),
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.rows]
    return "\n".join(lines)


def markdown_page(report: Report, relative_to: Path) -> str:
    lines = [
        "# The 1×1 convolution, measured",
        "",
        f"onebyone report · {report.started} · {report.seconds:.0f} s · {_settings_line(report)}",
        "",
        "| claim | what | verdict |",
        "|---|---|---|",
    ]
    lines += [
        f"| [{c.id}](#{c.id.lower()}) | {c.title} | {_MARK[c.verdict]} {c.verdict} |" for c in report.claims
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
        lines += [f"- {f}" for f in c.findings]
        for table in c.tables:
            lines += ["", _table_markdown(table)]
        for figure in c.figures:
            rel = os.path.relpath(figure.path, relative_to)
            lines += ["", f"![{figure.title}]({rel})", "", f"*{figure.title}.* {figure.caption}"]
        lines += ["", f"Reproduce: `{c.reproduce}` · measured in {c.seconds:.1f} s"]
    lines += ["", "## Notes", ""] + [
        f"- {n}" for n in report.notes or ["every trained model was trained in this run"]
    ]
    lines += ["", "Machine: " + json.dumps(report.machine)]
    return "\n".join(lines) + "\n"


def _atomic_write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_html(report: Report, path: str | Path) -> Path:
    return _atomic_write(Path(path), html_page(report))


def write_markdown(report: Report, path: str | Path) -> Path:
    path = Path(path)
    return _atomic_write(path, markdown_page(report, path.parent))


def write_json(report: Report, path: str | Path) -> Path:
    """The measurements as JSON (figures by path), for scripts."""
    from dataclasses import asdict

    data = {"schema_version": 1, **asdict(report)}
    return _atomic_write(Path(path), json.dumps(data, indent=2, default=str) + "\n")
