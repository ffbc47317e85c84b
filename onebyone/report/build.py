"""Run every registered claim: measure, judge each criterion, render; collect a `ReportResult`."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable

from onebyone.report.catalog import claims_in_order
from onebyone.report.config import ReportConfig
from onebyone.report.context import ReportContext
from onebyone.report.machine import machine_info
from onebyone.report.registry import Claim, judge_claim
from onebyone.report.results import ClaimResult, ReportResult


def measure_claim(claim: Claim, ctx: ReportContext) -> ClaimResult:
    begun = time.perf_counter()
    measured = claim.measure(ctx)
    verdicts = judge_claim(claim, measured)
    page = claim.render(measured, ctx)
    return ClaimResult(
        claim.id,
        claim.title,
        claim.statement,
        verdicts,
        page.reason,
        page.findings,
        page.tables,
        page.figures,
        claim.reproduce,
        time.perf_counter() - begun,
    )


def build_report(
    config: ReportConfig,
    *,
    only: list[str] | None = None,
    on_start: Callable[[str, str], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> ReportResult:
    """Measure the claims (all, or the ids in `only`) and return the report; writes figures and models
    under `config.out`. `on_start(id, title)` and `status(message)` feed a progress display."""
    config.validate()
    ctx = ReportContext(config, status)
    started, clock = datetime.datetime.now().isoformat(timespec="seconds"), time.perf_counter()
    machine = machine_info(ctx.device)
    selected = [claim for claim in claims_in_order() if only is None or claim.id in only]
    ctx.prefetch(sorted({variant for claim in selected for variant in claim.needs}))
    claims = []
    for claim in selected:
        if on_start is not None:
            on_start(claim.id, claim.title)
        claims.append(measure_claim(claim, ctx))
    return ReportResult(claims, config.to_dict(), machine, started, time.perf_counter() - clock, ctx.notes)
