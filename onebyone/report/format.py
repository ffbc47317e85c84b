"""How the report writes its numbers as text: an estimate with its 95% interval, a verdict's subject,
the settings and the machine; read by every renderer (render, render_html, render_markdown)."""

from __future__ import annotations

from onebyone.report.results import ReportResult
from onebyone.report.verdicts import Verdict
from onebyone.stats import Estimate


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
    if estimate.low is None or estimate.high is None:
        return f"{_g(estimate.value)} (one {estimate.over.removesuffix('s')}: no interval)"
    return f"{_g(estimate.value)} ({_g(estimate.low)} to {_g(estimate.high)}; {estimate.n} {estimate.over})"


def settings_line(report: ReportResult) -> str:
    s = report.settings
    seeds = ", ".join(map(str, s["seeds"]))
    mode = "quick" if s["quick"] else "default"
    return (
        f"{mode} settings on {report.machine['device']}: seeds {seeds}; {s['epochs']} epochs on "
        f"{s['train_subset']:,} training images, width {s['width']:g}; timing: batch {s['latency_batch']}, "
        f"{s['latency_rounds']} interleaved rounds"
    )


def machine_line(report: ReportResult) -> str:
    m = report.machine
    where = m["device_name"] if m["device"] == "cuda" else f"{m['threads']} threads"
    cpu = m.get("cpu_model", m["processor"])  # report.json files of before the CPU model was kept
    extensions = ", ".join(m.get("cpu_extensions", [])) or "none of AVX2, AVX-512, AMX"
    capability = f", torch kernels {m['torch_cpu_capability']}" if m.get("torch_cpu_capability") else ""
    return (
        f"ran on {m['device']} ({where}), CPU {cpu} ({extensions}{capability}), torch {m['torch']}, "
        f"load average at start {m['load_average_at_start']}; another machine gives other digits "
        "with the same seeds"
    )


def verdict_subject(verdict: Verdict) -> str:
    c = verdict.criterion
    return f"{c.statement} ({c.subject})" if c.subject else c.statement
