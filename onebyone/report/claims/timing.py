"""C6, C8, C10: what 1×1 reductions save, counted by the profiler and timed on this machine.

Counts and times of both forms come from report.pairs. C8's page also profiles EfficientNet-Lite0,
the modern inverted bottleneck, where most of the parameters and MACs sit in 1×1 convs (a count,
not a criterion: the claim is about ResNet's blocks). A little over 300 lines: C10 reads what C6
and C8 measured, so the three stay in one file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from torch import nn

import onebyone
from onebyone.layers import BasicBlock, Bottleneck, Inception, InceptionConfig, Pointwise
from onebyone.models import create_model
from onebyone.report.claims.exact import NONE_DIFFER
from onebyone.report.figures import ratio_figure
from onebyone.report.format import ratio_text
from onebyone.report.pairs import FormCost, PairCost, conv_weights, pair_cost, timing_caption
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Band, Criterion, above, around
from onebyone.stats import Estimate

if TYPE_CHECKING:
    from onebyone.report.context import ReportContext

CLAIMED_SLOWDOWN = 3.7  # C10, the article's "about 3.7× slower"
HOLDS_3_7, APPROXIMATELY_3_7 = around(CLAIMED_SLOWDOWN, 0.2), around(CLAIMED_SLOWDOWN, 0.5)


# --- C6 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InceptionWeights:
    """C6's measurement: kernel weights of Inception 3a naive and with 1×1 reductions, counted and by
    the article's arithmetic, and both modules' cost."""

    naive_weights: int  # conv kernels, biases excluded
    reduced_weights: int  # conv kernels, biases and the pool projection excluded
    naive_formula_weights: int  # the article's arithmetic
    reduced_formula_weights: int
    cost: PairCost  # without = naive, with_ = with 1×1 reductions


def measure_c6(ctx: ReportContext) -> Measured[InceptionWeights]:
    c, side = ctx.config.inception_in_channels, ctx.config.inception_side
    n1, r3, n3, r5, n5, proj = ctx.config.inception_widths
    config = InceptionConfig(*ctx.config.inception_widths)
    naive, reduced = Inception(c, config.naive()), Inception(c, config)
    data = InceptionWeights(
        naive_weights=conv_weights(naive),
        reduced_weights=conv_weights(reduced, skip=("pool_proj",)),
        naive_formula_weights=c * n1 + 9 * c * n3 + 25 * c * n5,
        reduced_formula_weights=c * n1 + c * r3 + 9 * r3 * n3 + c * r5 + 25 * r5 * n5,
        cost=pair_cost(ctx.config, ctx.device, naive, reduced, (c, side, side)),
    )
    ctx.inception_cost = data.cost
    wrong = (data.naive_weights != data.naive_formula_weights) + (
        data.reduced_weights != data.reduced_formula_weights
    )
    estimates = {
        "wrong": Estimate.exact(wrong),
        "share": Estimate.exact(data.reduced_weights / data.naive_weights),
    }
    return Measured(estimates, data)


def render_c6(m: Measured[InceptionWeights], ctx: ReportContext) -> Rendered:
    d, cost = m.data, m.data.cost
    share, side = m.estimates["share"].value, ctx.config.inception_side
    rows: list[list] = [
        [
            "kernel weights (no biases, no pool projection)",
            f"{d.naive_weights:,}",
            f"{d.reduced_weights:,}",
            f"{share:.2f}",
        ],
        ["article's arithmetic", f"{d.naive_formula_weights:,}", f"{d.reduced_formula_weights:,}", ""],
        [
            "parameters (biases, pool projection)",
            f"{cost.without.params:,}",
            f"{cost.with_.params:,}",
            f"{cost.with_.params / cost.without.params:.2f}",
        ],
        [
            f"MACs at {side}×{side}",
            f"{cost.without.macs:,}",
            f"{cost.with_.macs:,}",
            f"{1 / cost.mac_ratio:.2f}",
        ],
        ["output channels", cost.without.channels, cost.with_.channels, ""],
        [
            f"latency, batch {ctx.config.latency_batch} (ms, median)",
            f"{cost.without.seconds * 1e3:.2f}",
            f"{cost.with_.seconds * 1e3:.2f}",
            "",
        ],
    ]
    return Rendered(
        f"{d.naive_weights:,} vs {d.reduced_weights:,} kernel weights ({share:.2f} of the naive module: "
        f"between the articles' 'a third' and 'half'); {cost.without.channels} vs {cost.with_.channels} "
        f"output channels; the naive module takes {ratio_text(cost.time_ratio)} the time (MAC ratio "
        f"{cost.mac_ratio:.2f}×)",
        [
            Table(
                f"Inception, input {ctx.config.inception_in_channels}×{side}×{side}, widths "
                f"{ctx.config.inception_widths}",
                ["", "naive", "with 1×1 reductions", "with ÷ naive"],
                rows,
            )
        ],
        findings=[
            f"time ratio naive ÷ reduced: {ratio_text(cost.time_ratio)}; "
            f"{timing_caption(ctx.config, ctx.device)}"
        ],
    )


register_claim(
    Claim(
        "C6",
        "Inception 3a: 1×1 reductions cut the weights to about a third",
        "Inception 3a (28×28×192; 1×1 64, 3×3 128, 5×5 32) needs 387,072 kernel weights without 1×1 "
        "reductions and 157,184 with 96/16 reductions; the pool branch grows the output to 416 channels "
        "without a 32-channel projection, 256 with it.",
        (
            Criterion(
                "wrong",
                "kernel weights as the article's arithmetic",
                "counts that differ from it",
                holds=NONE_DIFFER,
            ),
            Criterion(
                "share",
                "reductions leave about a third to half of the weights",
                "reduced ÷ naive kernel weights",
                holds=Band(0.8 / 3, 1.2 / 2),
            ),
        ),
        measure_c6,
        render_c6,
        'onebyone compare googlenet "googlenet naive=true"',
    )
)


# --- C8 ---------------------------------------------------------------------------------------

CLAIMED_C8 = {"basic64": 73_728, "basic256": 1_179_648, "bottleneck": 69_632}
MODERN = "efficientnet-lite0"  # profiled with random weights: counts need no weights package


@dataclass(frozen=True)
class PointwiseShare:
    """A network's parameters and MACs at 224×224 (profiler), and how many sit in its 1×1 convs."""

    params: int
    macs: int
    pointwise_params: int
    pointwise_macs: int


@dataclass(frozen=True)
class BlockWeights:
    """C8's measurement: conv weights of ResNet's blocks, the 256-channel basic block's and the
    bottleneck's cost, and where EfficientNet-Lite0's parameters and MACs sit."""

    basic64_weights: int  # conv kernels (BN excluded): basic block at 64 channels
    basic256_weights: int  # basic block at 256 channels
    bottleneck_weights: int  # bottleneck 256 → 64 → 64 → 256
    basic64_macs: int  # at 56×56
    cost: PairCost  # without = basic block at 256 channels, with_ = bottleneck 256→64→64→256
    modern: PointwiseShare  # MODERN


def measure_c8(ctx: ReportContext) -> Measured[BlockWeights]:
    blocks = {
        "basic64": BasicBlock(64, 64),
        "basic256": BasicBlock(256, 256),
        "bottleneck": Bottleneck(256, 64),
    }
    weights = {key: conv_weights(block) for key, block in blocks.items()}
    cost = pair_cost(ctx.config, ctx.device, blocks["basic256"], blocks["bottleneck"], (256, 56, 56))
    ctx.bottleneck_cost = cost
    macs64 = onebyone.profile(blocks["basic64"], (1, 64, 56, 56)).totals["macs"]
    wrong = sum(weights[k] != CLAIMED_C8[k] for k in CLAIMED_C8)
    totals = onebyone.profile(create_model(MODERN), (1, 3, 224, 224)).totals
    modern = PointwiseShare(
        totals["params"], totals["macs"], totals["pointwise_params"], totals["pointwise_macs"]
    )
    return Measured(
        {"wrong": Estimate.exact(wrong), "time_ratio": cost.time_ratio},
        BlockWeights(weights["basic64"], weights["basic256"], weights["bottleneck"], macs64, cost, modern),
    )


def _modern_table(totals: PointwiseShare) -> Table:
    """Where EfficientNet-Lite0's parameters and MACs sit: in its 1×1 convs, or elsewhere."""
    params, macs = totals.params, totals.macs
    parts = {
        "1×1 convs": (totals.pointwise_params, totals.pointwise_macs),
        "everything else": (params - totals.pointwise_params, macs - totals.pointwise_macs),
        "whole network": (params, macs),
    }
    rows = [
        [part, f"{p:,}", f"{p / params:.1%}", f"{m:,}", f"{m / macs:.1%}"] for part, (p, m) in parts.items()
    ]
    columns = ["part", "parameters", "share", "MACs", "share"]
    return Table(f"{MODERN} at 1×3×224×224 (profiler)", columns, rows)


def render_c8(m: Measured[BlockWeights], ctx: ReportContext) -> Rendered:
    d, cost, modern = m.data, m.data.cost, m.data.modern
    return Rendered(
        f"measured {d.basic64_weights:,} / {d.basic256_weights:,} / {d.bottleneck_weights:,} conv weights; "
        f"the 256-channel basic block takes {ratio_text(cost.time_ratio)} the bottleneck's time (MAC ratio "
        f"{cost.mac_ratio:.1f}×)",
        [
            Table(
                "Blocks at 56×56 (conv weights exclude BN)",
                [
                    "block",
                    "conv weights",
                    "article",
                    "MACs",
                    f"latency b{ctx.config.latency_batch} (ms, median)",
                ],
                [
                    ["basic, 64 channels", f"{d.basic64_weights:,}", "73,728", f"{d.basic64_macs:,}", "—"],
                    [
                        "basic, 256 channels",
                        f"{d.basic256_weights:,}",
                        "1,179,648",
                        f"{cost.without.macs:,}",
                        f"{cost.without.seconds * 1e3:.2f}",
                    ],
                    [
                        "bottleneck 256→64→64→256",
                        f"{d.bottleneck_weights:,}",
                        "69,632",
                        f"{cost.with_.macs:,}",
                        f"{cost.with_.seconds * 1e3:.2f}",
                    ],
                ],
            ),
            _modern_table(modern),
        ],
        findings=[
            timing_caption(ctx.config, ctx.device),
            f"{MODERN}, whose inverted bottlenecks expand with a 1×1 conv and project back with another: "
            f"{modern.pointwise_params / modern.params:.1%} of its parameters and "
            f"{modern.pointwise_macs / modern.macs:.1%} of its MACs are in 1×1 convs",
        ],
    )


register_claim(
    Claim(
        "C8",
        "ResNet's bottleneck: 1×1 convs make a 256-channel block cheaper than a 64-channel one",
        "A basic block of two 3×3 convs has 73,728 weights at 64 channels and 1,179,648 at 256; the "
        "bottleneck 256 → 1×1 64 → 3×3 64 → 1×1 256 has 69,632.",
        (
            Criterion(
                "wrong",
                "the article's weight counts",
                "counts that differ from the article's",
                holds=NONE_DIFFER,
            ),
            Criterion(
                "time_ratio",
                "the bottleneck is also faster than the 256-channel basic block",
                "time ratio basic ÷ bottleneck",
                holds=above(1.0),
            ),
        ),
        measure_c8,
        render_c8,
        "onebyone profile resnet50 --depth 3",
    )
)


# --- C10 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReductionCost:
    """C10's measurement: a 4×4 conv 256 → 256 straight, and after a 1×1 reduction to 64."""

    cost: PairCost  # without = the direct 4×4 conv, with_ = 1×1 conv 64 first
    side_px: int  # the input's height and width


def measure_c10(ctx: ReportContext) -> Measured[ReductionCost]:
    side, pad = 28, (1, 2, 1, 2)  # 'same' padding for an even 4×4 kernel, identical in both forms
    direct = nn.Sequential(nn.ZeroPad2d(pad), nn.Conv2d(256, 256, 4))
    reduced = nn.Sequential(Pointwise(256, 64), nn.ZeroPad2d(pad), nn.Conv2d(64, 256, 4))
    cost = pair_cost(ctx.config, ctx.device, direct, reduced, (256, side, side))
    return Measured(
        {"mac_ratio": Estimate.exact(cost.mac_ratio), "time_ratio": cost.time_ratio},
        ReductionCost(cost, side),
    )


def render_c10(m: Measured[ReductionCost], ctx: ReportContext) -> Rendered:
    cost, side = m.data.cost, m.data.side_px
    per_pixel = (16 * 256 * 256) / (256 * 64 + 16 * 64 * 256)
    labels, macs, times = ["C10: 4×4 conv\n1×1 64 first"], [cost.mac_ratio], [cost.time_ratio]
    earlier = (
        (ctx.inception_cost, "C6: Inception 3a\nreductions"),
        (ctx.bottleneck_cost, "C8: 256-ch basic\nvs bottleneck"),
    )
    for other, label in earlier:  # when C6 and C8 ran in this report
        if other is not None:
            labels.append(label)
            macs.append(other.mac_ratio)
            times.append(other.time_ratio)
    figure = ratio_figure(
        ctx.figure_path("cost_ratios"),
        f"MACs vs measured time ({ctx.device.type}, batch {ctx.config.latency_batch}"
        f"{', one thread' if ctx.device.type == 'cpu' else ''})",
        labels,
        macs,
        times,
    )

    def row(label: str, form: FormCost) -> list:
        return [label, f"{form.params:,}", f"{form.macs:,}", f"{form.seconds * 1e3:.2f}"]

    return Rendered(
        f"MACs: {cost.mac_ratio:.2f}× ({per_pixel:.2f}× per pixel by the article's arithmetic); measured "
        f"time: {ratio_text(cost.time_ratio)} on this machine",
        [
            Table(
                f"Input 256×{side}×{side}, batch {ctx.config.latency_batch}",
                ["form", "parameters", "MACs", "latency (ms, median)"],
                [row("4×4 conv 256", cost.without), row("1×1 conv 64 → 4×4 conv 256", cost.with_)],
            )
        ],
        [figure],
        findings=[timing_caption(ctx.config, ctx.device)],
    )


register_claim(
    Claim(
        "C10",
        "256 → 4×4 (256) is about 3.7× slower than 256 → 1×1 (64) → 4×4 (256)",
        "Going straight from 256 channels through a 4×4 conv with 256 outputs is about 3.7× slower than "
        "reducing to 64 with a 1×1 conv first.",
        (
            Criterion(
                "mac_ratio",
                "about 3.7× the multiply-accumulates",
                "MAC ratio direct ÷ reduced",
                holds=HOLDS_3_7,
                approximately=APPROXIMATELY_3_7,
            ),
            Criterion(
                "time_ratio",
                "about 3.7× the time",
                "time ratio direct ÷ reduced",
                holds=HOLDS_3_7,
                approximately=APPROXIMATELY_3_7,
            ),
        ),
        measure_c10,
        render_c10,
        "onebyone report --only C10  # times both forms (onebyone/report/claims/timing.py)",
    )
)
