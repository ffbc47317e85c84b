"""C13: do feature maps get sparser with depth? Measured per network, each with its own verdict.

For every network in `NETWORKS` the fraction of exactly-zero outputs after each ReLU is counted on
real test images, and one criterion decides per network, with its 95% interval over the trained
seeds: how much that fraction rises from the first third of the ReLUs to the last third. Above
0.10 it is a clear rise (an untrained network's zero fraction already wanders ±0.06 from layer to
layer); above 0 a rise. Spearman's rank correlation of the fraction with depth (+1: sparser at
every step) is shown beside it, not decided on: over nine ReLUs per seed it moved so much from
seed to seed (95% interval 0.30 to 1.12 over seeds 0–3 of the batch-norm network) that two seed
lists gave two verdicts, while the rise, which averages thirds, gave the same
(benchmarks/report_seeds.py; docs/report.md). Another network is one more `SparsityNetwork` entry: a name and a
function giving its measured instances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from onebyone.analysis.stats import mean_interval, spearman
from onebyone.report.figures import depth_curves
from onebyone.report.format import interval_text
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Criterion, above


@dataclass(frozen=True)
class SparsityNetwork:
    key: str
    name: str
    # (ctx) -> [(trained SparsityResult, untrained SparsityResult)], one pair per seed
    measure: Callable


def _trained_variant(variant: str) -> Callable:
    def measure(ctx):
        from onebyone.inspect import measure_sparsity
        from onebyone.models.loading import load_model

        pairs = []
        for seed in ctx.config.seeds:
            run = ctx.trained(variant, seed)
            images, _ = ctx.test_images(run.config, ctx.config.eval_size)
            torch.manual_seed(seed)
            untrained = load_model(run.config.model, dict(run.config.model_overrides)).eval()
            with torch.no_grad():
                pairs.append(
                    (
                        measure_sparsity(ctx.cpu_model(variant, seed), images),
                        measure_sparsity(untrained, images),
                    )
                )
        return pairs

    return measure


NETWORKS = (
    SparsityNetwork("bn", "nin-fashion (batch norm)", _trained_variant("gap")),
    SparsityNetwork(
        "nobn", "nin-fashion without batch norm (as in the NIN paper)", _trained_variant("gap-nobn")
    ),
)


def rank_correlation(result) -> float:
    """Spearman's ρ of the zero fraction with depth, over the ReLUs in forward order."""
    return spearman([r.depth for r in result.rows], [r.zero_fraction for r in result.rows])


CLEAR_RISE = 0.10


def rise(result) -> float:
    """Mean zero fraction of the last third of the ReLUs minus that of the first third."""
    zeros = [r.zero_fraction for r in result.rows]
    third = max(1, len(zeros) // 3)
    return sum(zeros[-third:]) / third - sum(zeros[:third]) / third


def measure_c13(ctx) -> Measured:
    measured = {net.key: net.measure(ctx) for net in NETWORKS}
    estimates = {}
    for key, pairs in measured.items():
        estimates[f"rho_{key}"] = mean_interval([rank_correlation(t) for t, _ in pairs], over="seeds")
        estimates[f"rise_{key}"] = mean_interval([rise(t) for t, _ in pairs], over="seeds")
    return Measured(estimates, measured)


def _by_depth(results) -> list:
    """Per ReLU: the zero fraction's mean and 95% interval over seeds."""
    return [mean_interval([r.rows[i].zero_fraction for r in results]) for i in range(len(results[0].rows))]


def render_c13(m: Measured, ctx) -> Rendered:
    tables, curves, parts = [], [], []
    for net in NETWORKS:
        pairs = m.data[net.key]
        trained = _by_depth([t for t, _ in pairs])
        untrained = _by_depth([u for _, u in pairs])
        rows = pairs[0][0].rows
        tables.append(
            Table(
                f"{net.name}: zero fraction after each ReLU, {pairs[0][0].images:,} test images, "
                f"mean over seeds (95% interval)",
                ["depth", "layer", "map", "zero fraction", "untrained"],
                [
                    [
                        r.depth,
                        r.layer.removeprefix("features."),
                        "×".join(map(str, r.shape)),
                        interval_text(t, 3),
                        f"{u.value:.3f}",
                    ]
                    for r, t, u in zip(rows, trained, untrained, strict=True)
                ],
            )
        )
        curves += [(net.name, trained), (f"{net.name}, untrained", untrained)]
        rho, up = m.estimates[f"rho_{net.key}"], m.estimates[f"rise_{net.key}"]
        parts.append(
            f"{net.name}: zero fraction {trained[0].value:.2f} after the first ReLU, "
            f"{trained[-1].value:.2f} after the last; ρ = {interval_text(rho)}, rise {interval_text(up)}"
        )
    figure = depth_curves(
        ctx.figure_path("sparsity"),
        "Fraction of exactly-zero ReLU outputs by depth",
        curves,
        "Mean over seeds; error bars: 95% intervals over seeds. Dashed: the same networks untrained.",
    )
    return Rendered("; ".join(parts), tables, [figure])


register_claim(
    Claim(
        "C13",
        "Feature maps get sparser with depth",
        "In a trained CNN the feature maps become sparser with depth: ReLU zeroes most units.",
        tuple(
            criterion
            for net in NETWORKS
            for criterion in (
                Criterion(
                    f"rise_{net.key}",
                    "clearly sparser deep down",
                    "zero fraction, last third of the ReLUs − first third",
                    holds=above(CLEAR_RISE),
                    approximately=above(0.0),
                    subject=net.name,
                ),
            )
        ),
        measure_c13,
        render_c13,
        "onebyone inspect sparsity OUT/models/gap-seed0",
        needs=("gap", "gap-nobn"),
    )
)
