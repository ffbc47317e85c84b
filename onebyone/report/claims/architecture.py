"""C4, C7, C11: layer tables, parameter ratios and pooling sizes, from the profiler (exact)."""

from __future__ import annotations

import torch
from torch import nn

import onebyone
from onebyone.analysis.stats import Estimate
from onebyone.layers import SpatialPyramidPool
from onebyone.models import create_model
from onebyone.report.claims.exact import NONE_DIFFER
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Criterion, around

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


def measure_c4(ctx) -> Measured:
    model = create_model("nin-imagenet")
    results = {side: onebyone.profile(model, (1, 3, side, side)) for side in (224, 227)}
    rows, mismatches = [], []
    for label, path, want224, want227 in NIN_TABLE:
        got = {side: results[side].row(path).output_shape for side in results}
        for side, want in ((224, want224), (227, want227)):
            if got[side][-1] != want:
                mismatches.append(f"{label} at {side}: {got[side][-1]} (article {want})")
        rows.append([label, got[224][1], f"{got[224][-1]} ({want224})", f"{got[227][-1]} ({want227})"])
    return Measured({"wrong": Estimate.exact(len(mismatches))}, (rows, mismatches, results[224].totals))


def render_c4(m: Measured, ctx) -> Rendered:
    rows, mismatches, total = m.data
    return Rendered(
        "; ".join(mismatches)
        or "every layer's output side matches the article's table at 224 and 227 (Caffe pools round up)",
        [
            Table(
                "nin-imagenet, profiled (article's value in brackets)",
                ["layer", "channels", "side at 224", "side at 227"],
                rows,
            )
        ],
        findings=[
            f"nin-imagenet: {total['params']:,} parameters, {total['macs']:,} MACs at 224×224; "
            f"{total['pointwise_macs'] / total['macs']:.0%} of the MACs are in 1×1 convs"
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


def measure_c7(ctx) -> Measured:
    model = create_model("googlenet")
    googlenet = onebyone.profile(model, (1, 3, 224, 224)).totals
    classifier = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    alexnet = onebyone.profile(create_model("alexnet"), (1, 3, 224, 224)).totals
    data = {
        "googlenet": googlenet,
        "alexnet": alexnet,
        "classifier": sum(p.numel() for p in classifier.parameters()),
    }
    return Measured({"ratio": Estimate.exact(alexnet["params"] / googlenet["params"])}, data)


def render_c7(m: Measured, ctx) -> Rendered:
    g, a, classifier = m.data["googlenet"], m.data["alexnet"], m.data["classifier"]
    ratio = m.estimates["ratio"].value
    off = abs(ratio - CLAIMED_ALEXNET_RATIO) / CLAIMED_ALEXNET_RATIO
    return Rendered(
        f"AlexNet / GoogLeNet = {ratio:.2f}×, not 12× ({off:.0%} off): 12× would need "
        f"{a['params'] / 12 / 1e6:.1f} M parameters; even without its {classifier:,}-parameter "
        f"classifier GoogLeNet keeps {(g['params'] - classifier) / 1e6:.2f} M "
        f"({a['params'] / (g['params'] - classifier):.1f}×)",
        [
            Table(
                "Zoo models at 224×224 (GoogLeNet: BVLC Caffe layout, no auxiliary heads)",
                ["model", "parameters", "MACs"],
                [
                    ["GoogLeNet", f"{g['params']:,}", f"{g['macs']:,}"],
                    ["AlexNet", f"{a['params']:,}", f"{a['macs']:,}"],
                    ["ratio (AlexNet ÷ GoogLeNet)", f"{ratio:.2f}×", f"{a['macs'] / g['macs']:.2f}×"],
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


def _coverage(kernel: int, stride: int, side: int) -> tuple[int, int]:
    """Output side and the most windows any input pixel falls in."""
    out = (side - kernel) // stride + 1
    cover = torch.nn.functional.conv_transpose2d(
        torch.ones(1, 1, out, out), torch.ones(1, 1, kernel, kernel), stride=stride
    )
    return out, int(cover.max())


def measure_c11(ctx) -> Measured:
    side = 28
    standard, overlapping = _coverage(2, 2, side), _coverage(3, 2, side)
    spp = SpatialPyramidPool((4, 2, 1))
    sizes = [(13, 13), (10, 17), (28, 28), (32, 24)]
    lengths = [spp(torch.randn(1, 8, h, w)).shape[1] for h, w in sizes]
    failed = (standard[1] != 1) + (overlapping[1] <= 1) + (len(set(lengths)) != 1)
    return Measured({"failed": Estimate.exact(failed)}, (side, standard, overlapping, sizes, lengths))


def render_c11(m: Measured, ctx) -> Rendered:
    side, (out_std, used_std), (out_ovl, used_ovl), sizes, lengths = m.data
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
