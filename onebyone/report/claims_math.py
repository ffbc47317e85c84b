"""C1, C2, C3, C12, C15: what a 1×1 convolution computes, checked numerically and on meta tensors."""

from __future__ import annotations

import torch
from torch import nn

import onebyone
from onebyone.layers import Pointwise
from onebyone.report.context import ReportContext
from onebyone.report.results import APPROXIMATELY, DOES_NOT_HOLD, HOLDS, ClaimResult, Table

TOLERANCE = 1e-5  # float32 round-off of the sums involved


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


@torch.no_grad()
def c1_cross_channel(ctx: ReportContext) -> ClaimResult:
    generator = torch.Generator().manual_seed(0)
    single = Pointwise(1, 1)
    x1 = torch.randn(4, 1, 28, 28, generator=generator)
    scale, shift = single.weight.reshape(()), single.bias.reshape(())
    diff_single = _max_diff(single(x1), scale * x1 + shift)
    rows = [["1 → 1", "w·x + b", f"{diff_single:.2e}"]]
    diffs = [diff_single]
    for c_in, c_out in ((3, 8), (64, 32), (192, 64)):
        conv = Pointwise(c_in, c_out)
        x = torch.randn(2, c_in, 14, 14, generator=generator)
        matrix = conv.weight[:, :, 0, 0]  # (C_out, C_in)
        mixed = torch.einsum("oc,nchw->nohw", matrix, x) + conv.bias.view(1, -1, 1, 1)
        diffs.append(_max_diff(conv(x), mixed))
        rows.append([f"{c_in} → {c_out}", "per-pixel matrix product (einsum)", f"{diffs[-1]:.2e}"])
    worst = max(diffs)
    verdict = HOLDS if worst <= TOLERANCE else DOES_NOT_HOLD
    return ClaimResult(
        "C1",
        "A 1×1 conv is scaling on one channel, a per-pixel channel mix on many",
        "On one channel a 1×1 kernel only multiplies by a coefficient; on C channels it is a learned "
        "linear combination of the channels at every pixel.",
        verdict,
        f"largest difference from the closed forms {worst:.1e} (float32 round-off ≤ {TOLERANCE:g})",
        findings=[f"1-channel 1×1 conv vs w·x+b: max |Δ| = {diff_single:.1e}"],
        tables=[Table("1×1 conv vs its closed form", ["channels", "closed form", "max |Δ|"], rows)],
        reproduce="pytest tests/layers/test_pointwise.py -k c1_",
    )


def c2_channels(ctx: ReportContext) -> ClaimResult:
    rows, ok = [], True
    for filters in (32, 64, 256, 1024):
        result = onebyone.profile(Pointwise(512, filters), (1, 512, 100, 100))
        shape = result.totals["output_shape"]
        params = result.totals["params"]
        expected = (512 + 1) * filters
        ok &= shape == [1, filters, 100, 100] and params == expected
        rows.append(
            [
                filters,
                "×".join(map(str, shape[1:])),
                f"{params:,}",
                f"{expected:,}",
                f"{result.totals['macs']:,}",
            ]
        )
    return ClaimResult(
        "C2",
        "A 1×1 conv changes the number of channels and keeps H×W",
        "A 1×1 conv with D filters turns 100×100×512 into 100×100×D, with (512+1)·D parameters.",
        HOLDS if ok else DOES_NOT_HOLD,
        "every output is D×100×100 with exactly (512+1)·D parameters" if ok else "a shape or count differs",
        tables=[
            Table(
                "Pointwise(512, D) on a 512×100×100 input (profiled on meta tensors)",
                ["D", "output C×H×W", "parameters", "(512+1)·D", "MACs"],
                rows,
            )
        ],
        reproduce="onebyone profile onebyone.layers:Pointwise --set in_channels=512 --set out_channels=256 "
        "--input 512x100x100",
    )


def _field(result, path: str) -> int:
    return int(result.row(path).receptive_field["axes"][0]["size"])


def c3_depth_without_field(ctx: ReportContext) -> ClaimResult:
    """The field part on meta tensors; the trained with/without-1×1 ablation is added by claims_trained."""
    stack = nn.Sequential(
        nn.Conv2d(64, 64, 3, padding=1), nn.ReLU(), Pointwise(64, 64), nn.ReLU(), Pointwise(64, 64), nn.ReLU()
    )
    result = onebyone.profile(stack, (1, 64, 32, 32))
    fields = [_field(result, "0"), _field(result, "2"), _field(result, "4")]
    nin = onebyone.profile(onebyone.models.create_model("nin-cifar"), (1, 3, 32, 32))
    stage = [_field(nin, f"features.stage1.{name}") for name in ("conv", "pointwise1", "pointwise2")]
    ok = len(set(fields)) == 1 and len(set(stage)) == 1
    rows = [
        ["3×3 conv + ReLU", fields[0], 1],
        ["+ 1×1 conv + ReLU", fields[1], 2],
        ["+ 1×1 conv + ReLU", fields[2], 3],
        ["nin-cifar stage 1: 5×5 conv, cccp1, cccp2", " / ".join(map(str, stage)), 3],
    ]
    return ClaimResult(
        "C3",
        "1×1 conv + ReLU adds depth and non-linearity, not receptive field",
        "A 1×1 conv followed by ReLU makes the network deeper and more non-linear without enlarging "
        "the receptive field.",
        HOLDS if ok else DOES_NOT_HOLD,
        f"the receptive field stays {fields[0]}×{fields[0]} while the ReLU depth grows 1 → 3"
        if ok
        else f"fields changed: {fields}, {stage}",
        tables=[
            Table(
                "Receptive field after each layer (profiler)",
                ["layers", "field (pixels)", "ReLU depth"],
                rows,
            )
        ],
        reproduce="onebyone profile nin-cifar --depth 3  # receptive-field column",
    )


def c12_stacked_3x3(ctx: ReportContext) -> ClaimResult:
    channels = 64
    two = nn.Sequential(
        nn.Conv2d(channels, channels, 3, bias=False), nn.Conv2d(channels, channels, 3, bias=False)
    )
    one = nn.Conv2d(channels, channels, 5, bias=False)
    r_two, r_one = onebyone.profile(two, (1, channels, 32, 32)), onebyone.profile(one, (1, channels, 32, 32))
    field_two, field_one = _field(r_two, ""), _field(r_one, "")
    p_two, p_one = r_two.totals["params"], r_one.totals["params"]
    ok = field_two == field_one == 5 and p_two == 18 * channels**2 and p_one == 25 * channels**2
    return ClaimResult(
        "C12",
        "Two 3×3 convs see what one 5×5 sees, with fewer weights",
        "Two stacked 3×3 convs have the receptive field of one 5×5 conv with 18C² instead of 25C² weights.",
        HOLDS if ok else DOES_NOT_HOLD,
        f"both fields are {field_one}×{field_one}; {p_two:,} vs {p_one:,} weights at C = {channels} "
        f"({p_two / p_one:.2f}×)",
        tables=[
            Table(
                f"C = {channels}",
                ["form", "field", "weights", "formula", "MACs at 32×32"],
                [
                    ["3×3 → 3×3", field_two, f"{p_two:,}", "18C²", f"{r_two.totals['macs']:,}"],
                    ["5×5", field_one, f"{p_one:,}", "25C²", f"{r_one.totals['macs']:,}"],
                ],
            )
        ],
        reproduce='python -c "import onebyone, torch.nn as nn; print(onebyone.profile(nn.Conv2d(64, 64, 5), '
        "(1, 64, 32, 32)).totals['receptive_field'])\"",
    )


@torch.no_grad()
def c15_composed_kernel(ctx: ReportContext) -> ClaimResult:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    conv3x3, conv1x1 = nn.Conv2d(16, 64, 3, padding=1), Pointwise(64, 28)
    mix = conv1x1.weight[:, :, 0, 0]  # (28, 64)
    composed = nn.Conv2d(16, 28, 3, padding=1)
    composed.weight.copy_(torch.einsum("om,mikl->oikl", mix, conv3x3.weight))
    composed.bias.copy_(mix @ conv3x3.bias + conv1x1.bias)
    x = torch.randn(2, 16, 20, 20, generator=generator)
    diff = _max_diff(conv1x1(conv3x3(x)), composed(x))
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    factored, single = count(conv3x3) + count(conv1x1), count(composed)
    verdict = HOLDS if diff <= 1e-4 else APPROXIMATELY if diff <= 1e-2 else DOES_NOT_HOLD
    return ClaimResult(
        "C15",
        "3×3 (64) then 1×1 (28) is a 3×3 conv with 28 mixed channels",
        "A 3×3 conv with 64 outputs followed by a 1×1 conv with 28 outputs acts like one 3×3 conv with "
        "28 outputs whose channels are linear combinations.",
        verdict,
        f"the composed 3×3×28 kernel reproduces the two-layer output to {diff:.1e} (no ReLU between)",
        findings=[f"parameters: factored {factored:,} (16 input channels), composed {single:,}"],
        tables=[
            Table(
                "16 input channels",
                ["form", "parameters", "max |Δ| vs factored"],
                [
                    ["3×3 conv 64 → 1×1 conv 28", f"{factored:,}", "—"],
                    ["one 3×3 conv 28 (composed kernel)", f"{single:,}", f"{diff:.1e}"],
                ],
            )
        ],
        reproduce="pytest tests/layers/test_pointwise.py -k c15",
    )
