"""C4, C7, C11: layer tables, parameter ratios and pooling sizes, from the profiler (exact)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

import onebyone
from onebyone.layers import SpatialPyramidPool
from onebyone.models import create_model
from onebyone.report.claims.exact import NONE_DIFFER
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Criterion, around
from onebyone.stats import Estimate

if TYPE_CHECKING:
    from onebyone.report.context import ReportContext

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


# --- C4 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSides:
    """One row of the article's NIN table, profiled at 224×224 and at 227×227 input."""

    label: str
    channels: int  # output channels
    side_224_px: int  # output side at 224, profiled
    article_224_px: int
    side_227_px: int
    article_227_px: int


@dataclass(frozen=True)
class NinTable:
    """C4's measurement: nin-imagenet's output sides against the article's table, and its totals."""

    layers: tuple[LayerSides, ...]
    mismatches: tuple[str, ...]  # one line per side that differs from the table
    params: int
    macs: int  # at 224×224
    pointwise_macs: int  # in 1×1 convs


def measure_c4(ctx: ReportContext) -> Measured[NinTable]:
    model = create_model("nin-imagenet")
    results = {side: onebyone.profile(model, (1, 3, side, side)) for side in (224, 227)}
    layers, mismatches = [], []
    for label, path, want224, want227 in NIN_TABLE:
        got = {side: results[side].row(path).output_shape for side in results}
        for side, want in ((224, want224), (227, want227)):
            if got[side][-1] != want:
                mismatches.append(f"{label} at {side}: {got[side][-1]} (article {want})")
        layers.append(LayerSides(label, got[224][1], got[224][-1], want224, got[227][-1], want227))
    totals = results[224].totals
    data = NinTable(
        tuple(layers), tuple(mismatches), totals["params"], totals["macs"], totals["pointwise_macs"]
    )
    return Measured({"wrong": Estimate.exact(len(mismatches))}, data)


def render_c4(m: Measured[NinTable], ctx: ReportContext) -> Rendered:
    d = m.data
    return Rendered(
        "; ".join(d.mismatches)
        or "every layer's output side matches the article's table at 224 and 227 (Caffe pools round up)",
        [
            Table(
                "nin-imagenet, profiled (article's value in brackets)",
                ["layer", "channels", "side at 224", "side at 227"],
                [
                    [
                        row.label,
                        row.channels,
                        f"{row.side_224_px} ({row.article_224_px})",
                        f"{row.side_227_px} ({row.article_227_px})",
                    ]
                    for row in d.layers
                ],
            )
        ],
        findings=[
            f"nin-imagenet: {d.params:,} parameters, {d.macs:,} MACs at 224×224; "
            f"{d.pointwise_macs / d.macs:.0%} of the MACs are in 1×1 convs"
        ],
    )


register_claim(
    Claim(
        "C4",
        "NIN = k×k conv + two 1×1 'cccp' convs; the Caffe ImageNet NIN runs 224→54→27→13→6→1",
        "NIN's mlpconv is a k×k conv followed by two 1×1 convs; the Caffe ImageNet NIN maps 224 → 54 → 27 → "
        "13 → 6 → 1 (227 → 55 → 27 → 13 → 6 → 1).",
        (
            Criterion(
                "wrong",
                "every layer's output side as in the article's table",
                "layer sides that differ from the table",
                holds=NONE_DIFFER,
            ),
        ),
        measure_c4,
        render_c4,
        "onebyone profile nin-imagenet --depth 2; onebyone profile nin-imagenet --input 3x227x227",
    )
)


# --- C7 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParameterCounts:
    """C7's measurement: GoogLeNet's and AlexNet's parameters and MACs at 224×224 (profiler)."""

    googlenet_params: int
    googlenet_macs: int
    alexnet_params: int
    alexnet_macs: int
    classifier_params: int  # GoogLeNet's last Linear layer


def measure_c7(ctx: ReportContext) -> Measured[ParameterCounts]:
    model = create_model("googlenet")
    googlenet = onebyone.profile(model, (1, 3, 224, 224)).totals
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    alexnet = onebyone.profile(create_model("alexnet"), (1, 3, 224, 224)).totals
    data = ParameterCounts(
        googlenet["params"],
        googlenet["macs"],
        alexnet["params"],
        alexnet["macs"],
        sum(p.numel() for p in classifier.parameters()),
    )
    return Measured({"ratio": Estimate.exact(alexnet["params"] / googlenet["params"])}, data)


def render_c7(m: Measured[ParameterCounts], ctx: ReportContext) -> Rendered:
    d, classifier = m.data, m.data.classifier_params
    ratio = m.estimates["ratio"].value
    off = abs(ratio - CLAIMED_ALEXNET_RATIO) / CLAIMED_ALEXNET_RATIO
    return Rendered(
        f"AlexNet / GoogLeNet = {ratio:.2f}×, not 12× ({off:.0%} off): 12× would need "
        f"{d.alexnet_params / 12 / 1e6:.1f} M parameters; even without its {classifier:,}-parameter "
        f"classifier GoogLeNet keeps {(d.googlenet_params - classifier) / 1e6:.2f} M "
        f"({d.alexnet_params / (d.googlenet_params - classifier):.1f}×)",
        [
            Table(
                "Zoo models at 224×224 (GoogLeNet: BVLC Caffe layout, no auxiliary heads)",
                ["model", "parameters", "MACs"],
                [
                    ["GoogLeNet", f"{d.googlenet_params:,}", f"{d.googlenet_macs:,}"],
                    ["AlexNet", f"{d.alexnet_params:,}", f"{d.alexnet_macs:,}"],
                    [
                        "ratio (AlexNet ÷ GoogLeNet)",
                        f"{ratio:.2f}×",
                        f"{d.alexnet_macs / d.googlenet_macs:.2f}×",
                    ],
                ],
            )
        ],
    )


register_claim(
    Claim(
        "C7",
        "GoogLeNet: 22 layers, 1/12 of AlexNet's parameters",
        "GoogLeNet is 22 layers deep but has about 1/12 of AlexNet's parameters.",
        (
            Criterion(
                "ratio",
                "about 12× fewer parameters than AlexNet",
                "AlexNet ÷ GoogLeNet parameters",
                holds=around(CLAIMED_ALEXNET_RATIO, 0.1),
                approximately=around(CLAIMED_ALEXNET_RATIO, 0.2),
            ),
        ),
        measure_c7,
        render_c7,
        "onebyone compare alexnet googlenet",
    )
)


# --- C11 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Coverage:
    """A pooling window slid over a square map."""

    out_side_px: int  # output side
    max_uses: int  # the most windows any input pixel falls in


@dataclass(frozen=True)
class PoolingChecks:
    """C11's measurement: standard and overlapping pooling over a map, and spatial pyramid pooling's
    output length for several input sizes."""

    side_px: int  # the pooled map's side
    standard: Coverage  # window 2, stride 2
    overlapping: Coverage  # window 3, stride 2
    spp_inputs: tuple[tuple[int, int], ...]  # (H, W) of each input to SPP(4, 2, 1)
    spp_lengths: tuple[int, ...]  # its output length for each


def _coverage(kernel: int, stride: int, side: int) -> Coverage:
    """Output side and the most windows any input pixel falls in."""
    out = (side - kernel) // stride + 1
    cover = torch.nn.functional.conv_transpose2d(
        torch.ones(1, 1, out, out), torch.ones(1, 1, kernel, kernel), stride=stride
    )
    return Coverage(out, int(cover.max()))


def measure_c11(ctx: ReportContext) -> Measured[PoolingChecks]:
    side = 28
    standard, overlapping = _coverage(2, 2, side), _coverage(3, 2, side)
    spp = SpatialPyramidPool((4, 2, 1))
    sizes = ((13, 13), (10, 17), (28, 28), (32, 24))
    lengths = tuple(spp(torch.randn(1, 8, h, w)).shape[1] for h, w in sizes)
    failed = (standard.max_uses != 1) + (overlapping.max_uses <= 1) + (len(set(lengths)) != 1)
    data = PoolingChecks(side, standard, overlapping, sizes, lengths)
    return Measured({"failed": Estimate.exact(failed)}, data)


def render_c11(m: Measured[PoolingChecks], ctx: ReportContext) -> Rendered:
    d = m.data
    side, sizes, lengths = d.side_px, d.spp_inputs, d.spp_lengths
    out_std, used_std = d.standard.out_side_px, d.standard.max_uses
    out_ovl, used_ovl = d.overlapping.out_side_px, d.overlapping.max_uses
    return Rendered(
        f"2/2 pooling uses each pixel {used_std}×, 3/2 up to {used_ovl}×; SPP(4,2,1) on 8 channels gives "
        f"{lengths[0]} values for every input size tried",
        [
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
    )


register_claim(
    Claim(
        "C11",
        "Pooling kinds: standard, overlapping, spatial pyramid",
        "Standard pooling (stride = window) uses each pixel once; overlapping pooling (stride < window) "
        "reuses pixels; spatial pyramid pooling gives a fixed-length output for any input size.",
        (
            Criterion(
                "failed",
                "each pixel once, overlapping reuse, one SPP length for every size",
                "of the three checks, those that fail",
                holds=NONE_DIFFER,
            ),
        ),
        measure_c11,
        render_c11,
        'python -c "import torch; from onebyone.layers import SpatialPyramidPool as S; '
        'print(S((4, 2, 1))(torch.randn(1, 8, 10, 17)).shape)"',
    )
)
