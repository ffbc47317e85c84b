"""Run every claim's measurement in order and collect a `Report`."""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable

import torch

from onebyone.report import claims_cost, claims_math, claims_trained
from onebyone.report.config import ReportConfig
from onebyone.report.context import ReportContext
from onebyone.report.results import ClaimResult, Report

# In report order. C10 draws its figure from C6's and C8's measurements, so it comes after them.
CLAIMS: list[tuple[str, str, Callable[[ReportContext], ClaimResult]]] = [
    ("C1", "1×1 conv as scaling and channel mixing", claims_math.c1_cross_channel),
    ("C2", "channels change, H×W kept", claims_math.c2_channels),
    ("C3", "depth without receptive field (+ trained ablation)", claims_trained.c3_with_ablation),
    ("C4", "NIN ImageNet layer table", claims_cost.c4_nin_table),
    ("C5", "GAP vs FC head (trained)", claims_trained.c5_gap_head),
    ("C6", "Inception 3a reductions", claims_cost.c6_inception),
    ("C7", "GoogLeNet vs AlexNet parameters", claims_cost.c7_googlenet_alexnet),
    ("C8", "ResNet bottleneck", claims_cost.c8_bottleneck),
    ("C9", "FC → conv, dense prediction", claims_trained.c9_fc_to_conv),
    ("C10", "1×1 reduction before a 4×4 conv", claims_cost.c10_reduction_speed),
    ("C11", "pooling kinds and SPP", claims_cost.c11_pooling),
    ("C12", "two 3×3 vs one 5×5", claims_math.c12_stacked_3x3),
    ("C13", "sparsity by depth (trained)", claims_trained.c13_sparsity),
    ("C14", "localisation: CAM and receptive-field boxes", claims_trained.c14_localisation),
    ("C15", "3×3 then 1×1 as one 3×3", claims_math.c15_composed_kernel),
]


def machine_info() -> dict:
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "load_average_at_start": load,
    }


def build_report(
    config: ReportConfig,
    *,
    only: list[str] | None = None,
    on_start: Callable[[str, str], None] | None = None,
    status: Callable[[str], None] | None = None,
) -> Report:
    """Measure the claims (all, or the ids in `only`) and return the report; writes figures and models
    under `config.out`. `on_start(id, title)` and `status(message)` feed a progress display."""
    config.validate()
    ctx = ReportContext(config, status)
    started, clock = datetime.datetime.now().isoformat(timespec="seconds"), time.perf_counter()
    machine = machine_info()
    claims = []
    for claim_id, title, measure in CLAIMS:
        if only is not None and claim_id not in only:
            continue
        if on_start is not None:
            on_start(claim_id, title)
        begun = time.perf_counter()
        result = measure(ctx)
        result.seconds = time.perf_counter() - begun
        claims.append(result)
    return Report(claims, config.to_dict(), machine, started, time.perf_counter() - clock, ctx.notes)
