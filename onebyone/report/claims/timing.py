"""C6, C8, C10: what 1×1 reductions save, counted by the profiler and timed on this machine.

Counts and times of both forms come from report.pairs. C8's page also profiles EfficientNet-Lite0,
the modern inverted bottleneck, where most of the parameters and MACs sit in 1×1 convs (a count,
not a criterion: the claim is about ResNet's blocks). A little over 300 lines: C10 reads what C6
and C8 measured, so the three stay in one file.
"""

from __future__ import annotations

from torch import nn

import onebyone
from onebyone.analysis.stats import Estimate
from onebyone.layers import BasicBlock, Bottleneck, Inception, InceptionConfig, Pointwise
from onebyone.models import create_model
from onebyone.report.claims.exact import NONE_DIFFER
from onebyone.report.figures import ratio_figure
from onebyone.report.format import ratio_text
from onebyone.report.pairs import conv_weights, pair_cost, timing_caption
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Band, Criterion, above, around

CLAIMED_SLOWDOWN = 3.7  # C10, the article's "about 3.7× slower"
ABOUT_3_7 = {"holds": around(CLAIMED_SLOWDOWN, 0.2), "approximately": around(CLAIMED_SLOWDOWN, 0.5)}


# --- C6 ---------------------------------------------------------------------------------------


def measure_c6(ctx) -> Measured:
    c, side = ctx.config.inception_in_channels, ctx.config.inception_side
    n1, r3, n3, r5, n5, proj = ctx.config.inception_widths
    config = InceptionConfig(*ctx.config.inception_widths)
    naive, reduced = Inception(c, config.naive()), Inception(c, config)
    formula = {
        "naive": c * n1 + 9 * c * n3 + 25 * c * n5,
        "reduced": c * n1 + c * r3 + 9 * r3 * n3 + c * r5 + 25 * r5 * n5,
    }  # the article's arithmetic
    weights = {"naive": conv_weights(naive), "reduced": conv_weights(reduced, skip=("pool_proj",))}
    cost = pair_cost(ctx, naive, reduced, (c, side, side))
    ctx.shared["c6"] = cost
    wrong = sum(weights[k] != formula[k] for k in weights)
    estimates = {
        "wrong": Estimate.exact(wrong),
        "share": Estimate.exact(weights["reduced"] / weights["naive"]),
    }
    return Measured(estimates, {"formula": formula, "weights": weights, "cost": cost})


def render_c6(m: Measured, ctx) -> Rendered:
    w, f, cost = m.data["weights"], m.data["formula"], m.data["cost"]
    share, side = m.estimates["share"].value, ctx.config.inception_side
    rows = [
        [
            "kernel weights (no biases, no pool projection)",
            f"{w['naive']:,}",
            f"{w['reduced']:,}",
            f"{share:.2f}",
        ],
        ["article's arithmetic", f"{f['naive']:,}", f"{f['reduced']:,}", ""],
        [
            "parameters (biases, pool projection)",
            f"{cost['without']['params']:,}",
            f"{cost['with']['params']:,}",
            f"{cost['with']['params'] / cost['without']['params']:.2f}",
        ],
        [
            f"MACs at {side}×{side}",
            f"{cost['without']['macs']:,}",
            f"{cost['with']['macs']:,}",
            f"{1 / cost['mac_ratio']:.2f}",
        ],
        ["output channels", cost["without"]["channels"], cost["with"]["channels"], ""],
        [
            f"latency, batch {ctx.config.latency_batch} (ms, median)",
            f"{cost['without']['seconds'] * 1e3:.2f}",
            f"{cost['with']['seconds'] * 1e3:.2f}",
            "",
        ],
    ]
    return Rendered(
        f"{w['naive']:,} vs {w['reduced']:,} kernel weights ({share:.2f} of the naive module: between the "
        f"articles' 'a third' and 'half'); {cost['without']['channels']} vs {cost['with']['channels']} "
        f"output channels; the naive module takes {ratio_text(cost['time_ratio'])} the time (MAC ratio "
        f"{cost['mac_ratio']:.2f}×)",
        [
            Table(
                f"Inception, input {ctx.config.inception_in_channels}×{side}×{side}, widths "
                f"{ctx.config.inception_widths}",
                ["", "naive", "with 1×1 reductions", "with ÷ naive"],
                rows,
            )
        ],
        findings=[f"time ratio naive ÷ reduced: {ratio_text(cost['time_ratio'])}; {timing_caption(ctx)}"],
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


def measure_c8(ctx) -> Measured:
    blocks = {
        "basic64": BasicBlock(64, 64),
        "basic256": BasicBlock(256, 256),
        "bottleneck": Bottleneck(256, 64),
    }
    weights = {key: conv_weights(block) for key, block in blocks.items()}
    cost = pair_cost(ctx, blocks["basic256"], blocks["bottleneck"], (256, 56, 56))
    ctx.shared["c8"] = cost
    macs64 = onebyone.profile(blocks["basic64"], (1, 64, 56, 56)).totals["macs"]
    wrong = sum(weights[k] != CLAIMED_C8[k] for k in CLAIMED_C8)
    modern = onebyone.profile(create_model(MODERN), (1, 3, 224, 224)).totals
    return Measured(
        {"wrong": Estimate.exact(wrong), "time_ratio": cost["time_ratio"]},
        {"weights": weights, "cost": cost, "macs64": macs64, "modern": modern},
    )


def _modern_table(totals: dict) -> Table:
    """Where EfficientNet-Lite0's parameters and MACs sit: in its 1×1 convs, or elsewhere."""
    params, macs = totals["params"], totals["macs"]
    parts = {
        "1×1 convs": (totals["pointwise_params"], totals["pointwise_macs"]),
        "everything else": (params - totals["pointwise_params"], macs - totals["pointwise_macs"]),
        "whole network": (params, macs),
    }
    rows = [
        [part, f"{p:,}", f"{p / params:.1%}", f"{m:,}", f"{m / macs:.1%}"] for part, (p, m) in parts.items()
    ]
    columns = ["part", "parameters", "share", "MACs", "share"]
    return Table(f"{MODERN} at 1×3×224×224 (profiler)", columns, rows)


def render_c8(m: Measured, ctx) -> Rendered:
    w, cost, modern = m.data["weights"], m.data["cost"], m.data["modern"]
    ms = lambda key: f"{cost[key]['seconds'] * 1e3:.2f}"  # noqa: E731
    return Rendered(
        f"measured {w['basic64']:,} / {w['basic256']:,} / {w['bottleneck']:,} conv weights; the 256-channel "
        f"basic block takes {ratio_text(cost['time_ratio'])} the bottleneck's time (MAC ratio "
        f"{cost['mac_ratio']:.1f}×)",
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
                    ["basic, 64 channels", f"{w['basic64']:,}", "73,728", f"{m.data['macs64']:,}", "—"],
                    [
                        "basic, 256 channels",
                        f"{w['basic256']:,}",
                        "1,179,648",
                        f"{cost['without']['macs']:,}",
                        ms("without"),
                    ],
                    [
                        "bottleneck 256→64→64→256",
                        f"{w['bottleneck']:,}",
                        "69,632",
                        f"{cost['with']['macs']:,}",
                        ms("with"),
                    ],
                ],
            ),
            _modern_table(modern),
        ],
        findings=[
            timing_caption(ctx),
            f"{MODERN}, whose inverted bottlenecks expand with a 1×1 conv and project back with another: "
            f"{modern['pointwise_params'] / modern['params']:.1%} of its parameters and "
            f"{modern['pointwise_macs'] / modern['macs']:.1%} of its MACs are in 1×1 convs",
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


def measure_c10(ctx) -> Measured:
    side, pad = 28, (1, 2, 1, 2)  # 'same' padding for an even 4×4 kernel, identical in both forms
    direct = nn.Sequential(nn.ZeroPad2d(pad), nn.Conv2d(256, 256, 4))
    reduced = nn.Sequential(Pointwise(256, 64), nn.ZeroPad2d(pad), nn.Conv2d(64, 256, 4))
    cost = pair_cost(ctx, direct, reduced, (256, side, side))
    return Measured(
        {"mac_ratio": Estimate.exact(cost["mac_ratio"]), "time_ratio": cost["time_ratio"]},
        {"cost": cost, "side": side},
    )


def render_c10(m: Measured, ctx) -> Rendered:
    cost, side = m.data["cost"], m.data["side"]
    per_pixel = (16 * 256 * 256) / (256 * 64 + 16 * 64 * 256)
    labels, macs, times = ["C10: 4×4 conv\n1×1 64 first"], [cost["mac_ratio"]], [cost["time_ratio"]]
    for key, label in (("c6", "C6: Inception 3a\nreductions"), ("c8", "C8: 256-ch basic\nvs bottleneck")):
        if key in ctx.shared:
            labels.append(label)
            macs.append(ctx.shared[key]["mac_ratio"])
            times.append(ctx.shared[key]["time_ratio"])
    figure = ratio_figure(
        ctx.figure_path("cost_ratios"),
        f"MACs vs measured time ({ctx.device.type}, batch {ctx.config.latency_batch}"
        f"{', one thread' if ctx.device.type == 'cpu' else ''})",
        labels,
        macs,
        times,
    )

    def row(label: str, key: str) -> list:
        return [
            label,
            f"{cost[key]['params']:,}",
            f"{cost[key]['macs']:,}",
            f"{cost[key]['seconds'] * 1e3:.2f}",
        ]

    return Rendered(
        f"MACs: {cost['mac_ratio']:.2f}× ({per_pixel:.2f}× per pixel by the article's arithmetic); measured "
        f"time: {ratio_text(cost['time_ratio'])} on this machine",
        [
            Table(
                f"Input 256×{side}×{side}, batch {ctx.config.latency_batch}",
                ["form", "parameters", "MACs", "latency (ms, median)"],
                [row("4×4 conv 256", "without"), row("1×1 conv 64 → 4×4 conv 256", "with")],
            )
        ],
        [figure],
        findings=[timing_caption(ctx)],
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
                **ABOUT_3_7,
            ),
            Criterion(
                "time_ratio",
                "about 3.7× the time",
                "time ratio direct ÷ reduced",
                **ABOUT_3_7,
            ),
        ),
        measure_c10,
        render_c10,
        "onebyone report --only C10  # times both forms (onebyone/report/claims/timing.py)",
    )
)
