"""C4, C6, C7, C8, C10, C11: parameters, MACs and output sizes from the profiler, and latency
measured on this machine next to the MAC ratios."""

from __future__ import annotations

import torch
from torch import nn

import onebyone
from onebyone.layers import BasicBlock, Bottleneck, Inception, InceptionConfig, Pointwise, SpatialPyramidPool
from onebyone.models import create_model
from onebyone.report.context import ReportContext
from onebyone.report.results import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, ClaimResult, Figure, Table

# The Caffe NIN table of the article (004_*.txt): layer, profiler path, output side at 224 and at 227.
NIN_TABLE = [
    ("conv1 11/4 + cccp1, cccp2", "features.stage1", 54, 55),
    ("pool1 3/2", "features.pool1", 27, 27),
    ("conv2 5/1 pad 2 + cccp3, cccp4", "features.stage2", 27, 27),
    ("pool2 3/2", "features.pool2", 13, 13),
    ("conv3 3/1 pad 1 + cccp5, cccp6", "features.stage3", 13, 13),
    ("pool3 3/2", "features.pool3", 6, 6),
    ("conv4 3/1 pad 1 + cccp7, cccp8", "features.stage4", 6, 6),
    ("pool4 average 6×6", "head.pool", 1, 1),
]
CLAIMED_ALEXNET_RATIO = 12.0
CLAIMED_SLOWDOWN = 3.7  # C10, the article's "about 3.7× slower"


def _conv_weights(module: nn.Module, skip: tuple[str, ...] = ()) -> int:
    """Kernel weights of every conv (biases and BN excluded), as the articles count them."""
    return sum(
        m.weight.numel()
        for name, m in module.named_modules()
        if isinstance(m, nn.Conv2d) and not any(name.startswith(s) for s in skip)
    )


def c4_nin_table(ctx: ReportContext) -> ClaimResult:
    model = create_model("nin-imagenet")
    results = {side: onebyone.profile(model, (1, 3, side, side)) for side in (224, 227)}
    rows, mismatches = [], []
    for label, path, want224, want227 in NIN_TABLE:
        got = {side: results[side].row(path).output_shape for side in results}
        for side, want in ((224, want224), (227, want227)):
            if got[side][-1] != want:
                mismatches.append(f"{label} at {side}: {got[side][-1]} (article {want})")
        rows.append([label, got[224][1], f"{got[224][-1]} ({want224})", f"{got[227][-1]} ({want227})"])
    total = results[224].totals
    verdict = DOES_NOT_HOLD if mismatches else HOLDS
    return ClaimResult(
        "C4",
        "NIN = k×k conv + two 1×1 'cccp' convs; the Caffe ImageNet NIN runs 224→54→27→13→6→1",
        "NIN's mlpconv is a k×k conv followed by two 1×1 convs; the Caffe ImageNet NIN maps 224 → 54 → 27 → "
        "13 → 6 → 1 (227 → 55 → 27 → 13 → 6 → 1).",
        verdict,
        "every layer's output side matches the article's table at 224 and 227 (Caffe pools round up)"
        if not mismatches
        else "; ".join(mismatches),
        findings=[
            f"nin-imagenet: {total['params']:,} parameters, {total['macs']:,} MACs at 224×224; "
            f"{total['pointwise_macs'] / total['macs']:.0%} of the MACs are in 1×1 convs"
        ],
        tables=[
            Table(
                "nin-imagenet, profiled (article's value in brackets)",
                ["layer", "channels", "side at 224", "side at 227"],
                rows,
            )
        ],
        reproduce="onebyone profile nin-imagenet --depth 2; onebyone profile nin-imagenet --input 3x227x227",
    )


def _inception_config(ctx: ReportContext) -> InceptionConfig:
    return InceptionConfig(*ctx.config.inception_widths)


def _ratio_figure(ctx: ReportContext, name: str, title: str, labels, mac_ratios, time_ratios) -> Figure:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=110)
    positions = range(len(labels))
    ax.bar([p - 0.2 for p in positions], mac_ratios, width=0.4, label="MAC ratio (profiler)", color="#4c72b0")
    ax.bar(
        [p + 0.2 for p in positions], time_ratios, width=0.4, label="time ratio (measured)", color="#dd8452"
    )
    for p, (m, t) in enumerate(zip(mac_ratios, time_ratios, strict=True)):
        ax.text(p - 0.2, m, f"{m:.2f}×", ha="center", va="bottom", fontsize=8)
        ax.text(p + 0.2, t, f"{t:.2f}×", ha="center", va="bottom", fontsize=8)
    ax.axhline(1, color="grey", linewidth=0.8)
    ax.set_xticks(list(positions), labels, fontsize=8)
    ax.set_ylabel("without 1×1 reduction ÷ with")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = ctx.figure_path(name)
    fig.savefig(path)
    plt.close(fig)
    return Figure(title, path, "Bars above 1: the form without the 1×1 reduction costs more.")


def _pair_cost(ctx: ReportContext, without: nn.Module, with_: nn.Module, input_shape) -> dict:
    batch = (ctx.config.latency_batch, *input_shape)
    x = torch.randn(batch)
    cost = {}
    for key, module in (("without", without), ("with", with_)):
        result = onebyone.profile(module, (1, *input_shape))
        cost[key] = {
            "params": result.totals["params"],
            "macs": result.totals["macs"],
            "channels": result.totals["output_shape"][1],
            "seconds": ctx.latency(module, x),
        }
    cost["mac_ratio"] = cost["without"]["macs"] / cost["with"]["macs"]
    cost["time_ratio"] = cost["without"]["seconds"] / cost["with"]["seconds"]
    return cost


def c6_inception(ctx: ReportContext) -> ClaimResult:
    config = _inception_config(ctx)
    c, side = ctx.config.inception_in_channels, ctx.config.inception_side
    n1, r3, n3, r5, n5, proj = ctx.config.inception_widths
    naive, reduced = Inception(c, config.naive()), Inception(c, config)
    # The article's arithmetic, from the widths alone.
    naive_formula = c * n1 + 9 * c * n3 + 25 * c * n5
    reduced_formula = c * n1 + c * r3 + 9 * r3 * n3 + c * r5 + 25 * r5 * n5
    naive_weights, reduced_weights = _conv_weights(naive), _conv_weights(reduced, skip=("pool_proj",))
    cost = _pair_cost(ctx, naive, reduced, (c, side, side))
    ctx.shared["c6"] = cost
    ok = naive_weights == naive_formula and reduced_weights == reduced_formula
    share = reduced_weights / naive_weights
    verdict = HOLDS if ok and share < 0.6 else APPROXIMATELY if ok else DOES_NOT_HOLD
    rows = [
        [
            "kernel weights (no biases, no pool projection)",
            f"{naive_weights:,}",
            f"{reduced_weights:,}",
            f"{share:.2f}",
        ],
        ["article's arithmetic", f"{naive_formula:,}", f"{reduced_formula:,}", ""],
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
            f"latency, batch {ctx.config.latency_batch} (ms)",
            f"{cost['without']['seconds'] * 1e3:.2f}",
            f"{cost['with']['seconds'] * 1e3:.2f}",
            f"{1 / cost['time_ratio']:.2f}",
        ],
    ]
    return ClaimResult(
        "C6",
        "Inception 3a: 1×1 reductions cut the weights to about a third",
        "Inception 3a (28×28×192; 1×1 64, 3×3 128, 5×5 32) needs 387,072 kernel weights without 1×1 "
        "reductions and 157,184 with 96/16 reductions; the pool branch grows the output to 416 channels "
        "without a 32-channel projection, 256 with it.",
        verdict,
        f"{naive_weights:,} vs {reduced_weights:,} kernel weights ({share:.2f} of the naive module: "
        f"between the articles' 'a third' and 'half'); {cost['without']['channels']} vs "
        f"{cost['with']['channels']} output channels; measured {cost['time_ratio']:.2f}× faster with the "
        f"reductions (MAC ratio {cost['mac_ratio']:.2f}×)",
        tables=[
            Table(
                f"Inception, input {c}×{side}×{side}, widths {ctx.config.inception_widths}",
                ["", "naive", "with 1×1 reductions", "with ÷ naive"],
                rows,
            )
        ],
        reproduce='onebyone compare googlenet "googlenet naive=true"',
    )


def c7_googlenet_alexnet(ctx: ReportContext) -> ClaimResult:
    model = create_model("googlenet")
    googlenet = onebyone.profile(model, (1, 3, 224, 224)).totals
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    classifier_params = sum(p.numel() for p in classifier.parameters())
    alexnet = onebyone.profile(create_model("alexnet"), (1, 3, 224, 224)).totals
    ratio = alexnet["params"] / googlenet["params"]
    off = abs(ratio - CLAIMED_ALEXNET_RATIO) / CLAIMED_ALEXNET_RATIO
    verdict = HOLDS if off <= 0.1 else APPROXIMATELY if off <= 0.2 else DOES_NOT_HOLD
    return ClaimResult(
        "C7",
        "GoogLeNet: 22 layers, 1/12 of AlexNet's parameters",
        "GoogLeNet is 22 layers deep but has about 1/12 of AlexNet's parameters.",
        verdict,
        f"AlexNet / GoogLeNet = {ratio:.2f}×, not 12× ({off:.0%} off): 12× would need "
        f"{alexnet['params'] / 12 / 1e6:.1f} M parameters; even without its {classifier_params:,}-parameter "
        f"classifier GoogLeNet keeps {(googlenet['params'] - classifier_params) / 1e6:.2f} M "
        f"({alexnet['params'] / (googlenet['params'] - classifier_params):.1f}×)",
        tables=[
            Table(
                "Zoo models at 224×224 (GoogLeNet: BVLC Caffe layout, no auxiliary heads)",
                ["model", "parameters", "MACs"],
                [
                    ["GoogLeNet", f"{googlenet['params']:,}", f"{googlenet['macs']:,}"],
                    ["AlexNet", f"{alexnet['params']:,}", f"{alexnet['macs']:,}"],
                    [
                        "ratio (AlexNet ÷ GoogLeNet)",
                        f"{ratio:.2f}×",
                        f"{alexnet['macs'] / googlenet['macs']:.2f}×",
                    ],
                ],
            )
        ],
        reproduce="onebyone compare alexnet googlenet",
    )


def c8_bottleneck(ctx: ReportContext) -> ClaimResult:
    basic64, basic256 = BasicBlock(64, 64), BasicBlock(256, 256)
    bottleneck = Bottleneck(256, 64)
    weights = {
        "basic64": _conv_weights(basic64),
        "basic256": _conv_weights(basic256),
        "bottleneck": _conv_weights(bottleneck),
    }
    claimed = {"basic64": 73_728, "basic256": 1_179_648, "bottleneck": 69_632}
    cost = _pair_cost(ctx, basic256, bottleneck, (256, 56, 56))
    ctx.shared["c8"] = cost
    ok = weights == claimed
    return ClaimResult(
        "C8",
        "ResNet's bottleneck: 1×1 convs make a 256-channel block cheaper than a 64-channel one",
        "A basic block of two 3×3 convs has 73,728 weights at 64 channels and 1,179,648 at 256; the "
        "bottleneck 256 → 1×1 64 → 3×3 64 → 1×1 256 has 69,632.",
        HOLDS if ok else DOES_NOT_HOLD,
        f"measured {weights['basic64']:,} / {weights['basic256']:,} / {weights['bottleneck']:,} conv "
        f"weights; the bottleneck is {cost['time_ratio']:.1f}× faster than the 256-channel basic block "
        f"(MAC ratio {cost['mac_ratio']:.1f}×)",
        tables=[
            Table(
                "Blocks at 56×56 (conv weights exclude BN)",
                ["block", "conv weights", "article", "MACs", f"latency b{ctx.config.latency_batch} (ms)"],
                [
                    [
                        "basic, 64 channels",
                        f"{weights['basic64']:,}",
                        "73,728",
                        f"{onebyone.profile(basic64, (1, 64, 56, 56)).totals['macs']:,}",
                        "—",
                    ],
                    [
                        "basic, 256 channels",
                        f"{weights['basic256']:,}",
                        "1,179,648",
                        f"{cost['without']['macs']:,}",
                        f"{cost['without']['seconds'] * 1e3:.2f}",
                    ],
                    [
                        "bottleneck 256→64→64→256",
                        f"{weights['bottleneck']:,}",
                        "69,632",
                        f"{cost['with']['macs']:,}",
                        f"{cost['with']['seconds'] * 1e3:.2f}",
                    ],
                ],
            )
        ],
        reproduce="onebyone profile resnet50 --depth 3",
    )


def c10_reduction_speed(ctx: ReportContext) -> ClaimResult:
    side = 28
    pad = (1, 2, 1, 2)  # 'same' padding for an even 4×4 kernel, identical in both forms
    direct = nn.Sequential(nn.ZeroPad2d(pad), nn.Conv2d(256, 256, 4))
    reduced = nn.Sequential(Pointwise(256, 64), nn.ZeroPad2d(pad), nn.Conv2d(64, 256, 4))
    cost = _pair_cost(ctx, direct, reduced, (256, side, side))
    per_pixel = (16 * 256 * 256) / (256 * 64 + 16 * 64 * 256)
    off = abs(cost["time_ratio"] - CLAIMED_SLOWDOWN) / CLAIMED_SLOWDOWN
    verdict = HOLDS if off <= 0.2 else APPROXIMATELY if cost["time_ratio"] > 1.5 else DOES_NOT_HOLD
    labels, mac_ratios, time_ratios = (
        ["C10: 4×4 conv\n1×1 64 first"],
        [cost["mac_ratio"]],
        [cost["time_ratio"]],
    )
    for key, label in (("c6", "C6: Inception 3a\nreductions"), ("c8", "C8: 256-ch basic\nvs bottleneck")):
        if key in ctx.shared:
            labels.append(label)
            mac_ratios.append(ctx.shared[key]["mac_ratio"])
            time_ratios.append(ctx.shared[key]["time_ratio"])
    figure = _ratio_figure(
        ctx,
        "cost_ratios",
        f"MACs vs measured time on this machine (batch {ctx.config.latency_batch}, "
        f"{torch.get_num_threads()} threads)",
        labels,
        mac_ratios,
        time_ratios,
    )
    return ClaimResult(
        "C10",
        "256 → 4×4 (256) is about 3.7× slower than 256 → 1×1 (64) → 4×4 (256)",
        "Going straight from 256 channels through a 4×4 conv with 256 outputs is about 3.7× slower than "
        "reducing to 64 with a 1×1 conv first.",
        verdict,
        f"MACs: {cost['mac_ratio']:.2f}× ({per_pixel:.2f}× per pixel by the article's arithmetic); measured "
        f"time: {cost['time_ratio']:.2f}× on this machine",
        tables=[
            Table(
                f"Input 256×{side}×{side}, batch {ctx.config.latency_batch}",
                ["form", "parameters", "MACs", "latency (ms)"],
                [
                    [
                        "4×4 conv 256",
                        f"{cost['without']['params']:,}",
                        f"{cost['without']['macs']:,}",
                        f"{cost['without']['seconds'] * 1e3:.2f}",
                    ],
                    [
                        "1×1 conv 64 → 4×4 conv 256",
                        f"{cost['with']['params']:,}",
                        f"{cost['with']['macs']:,}",
                        f"{cost['with']['seconds'] * 1e3:.2f}",
                    ],
                ],
            )
        ],
        figures=[figure],
        reproduce="onebyone report --only C10  # times both forms (onebyone/report/claims_cost.py)",
    )


def _coverage(kernel: int, stride: int, side: int) -> tuple[int, int]:
    """Output side and the most windows any input pixel falls in."""
    cover = torch.nn.functional.conv_transpose2d(
        torch.ones(1, 1, (side - kernel) // stride + 1, (side - kernel) // stride + 1),
        torch.ones(1, 1, kernel, kernel),
        stride=stride,
    )
    return (side - kernel) // stride + 1, int(cover.max())


def c11_pooling(ctx: ReportContext) -> ClaimResult:
    side = 28
    out_std, used_std = _coverage(2, 2, side)
    out_ovl, used_ovl = _coverage(3, 2, side)
    spp = SpatialPyramidPool((4, 2, 1))
    sizes = [(13, 13), (10, 17), (28, 28), (32, 24)]
    lengths = [spp(torch.randn(1, 8, h, w)).shape[1] for h, w in sizes]
    ok = used_std == 1 and used_ovl > 1 and len(set(lengths)) == 1
    return ClaimResult(
        "C11",
        "Pooling kinds: standard, overlapping, spatial pyramid",
        "Standard pooling (stride = window) uses each pixel once; overlapping pooling (stride < window) "
        "reuses pixels; spatial pyramid pooling gives a fixed-length output for any input size.",
        HOLDS if ok else DOES_NOT_HOLD,
        f"2/2 pooling uses each pixel {used_std}×, 3/2 up to {used_ovl}×; SPP(4,2,1) on 8 channels gives "
        f"{lengths[0]} values for every input size tried",
        tables=[
            Table(
                f"Pooling a {side}×{side} map",
                ["kind", "window/stride", "output side", "max uses of a pixel"],
                [
                    ["standard", "2/2", out_std, used_std],
                    ["overlapping (AlexNet, NIN)", "3/2", out_ovl, used_ovl],
                ],
            ),
            Table(
                "Spatial pyramid pooling, levels 4, 2, 1 (8 channels)",
                ["input H×W", "output length"],
                [[f"{h}×{w}", n] for (h, w), n in zip(sizes, lengths, strict=True)],
            ),
        ],
        reproduce='python -c "import torch; from onebyone.layers import SpatialPyramidPool as S; '
        'print(S((4, 2, 1))(torch.randn(1, 8, 10, 17)).shape)"',
    )
