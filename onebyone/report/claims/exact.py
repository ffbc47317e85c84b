"""C1, C2, C12, C15: what a 1×1 convolution computes, checked numerically and on meta tensors.

These are exact: the estimate is the measured number itself (an interval of width zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

import onebyone
from onebyone.layers import Pointwise
from onebyone.report.registry import Claim, Measured, Rendered, register_claim
from onebyone.report.results import Table
from onebyone.report.verdicts import Band, Criterion, below
from onebyone.stats import Estimate

if TYPE_CHECKING:
    from onebyone.profiling import ProfileResult
    from onebyone.report.context import ReportContext

TOLERANCE = 1e-5  # float32 round-off of the sums involved
NONE_DIFFER = Band(0, 0)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()


def field_size(result: ProfileResult, path: str) -> int:
    """The receptive-field side of the profiler row `path`."""
    field = result.row(path).receptive_field
    if field is None:
        raise ValueError(f"the profiler found no receptive field for {path or 'the model'}")
    return int(field["axes"][0]["size"])


# --- C1 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClosedFormCheck:
    """One 1×1 conv against the closed form it should equal."""

    channels: str  # "C_in → C_out"
    closed_form: str
    max_abs_diff: float  # largest |conv output − closed form| over the test input


@dataclass(frozen=True)
class ClosedForms:
    """C1's measurement: 1×1 convs on one channel and on many, each against its closed form."""

    checks: tuple[ClosedFormCheck, ...]


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    if conv.bias is None:
        raise ValueError("the closed forms need the conv's bias")
    return conv.bias


@torch.no_grad()
def measure_c1(ctx: ReportContext) -> Measured[ClosedForms]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    single = Pointwise(1, 1)
    x1 = torch.randn(4, 1, 28, 28, generator=generator)
    scale, shift = single.weight.reshape(()), _bias(single).reshape(())
    checks = [ClosedFormCheck("1 → 1", "w·x + b", _max_diff(single(x1), scale * x1 + shift))]
    for c_in, c_out in ((3, 8), (64, 32), (192, 64)):
        conv = Pointwise(c_in, c_out)
        x = torch.randn(2, c_in, 14, 14, generator=generator)
        matrix = conv.weight[:, :, 0, 0]  # (C_out, C_in)
        mixed = torch.einsum("oc,nchw->nohw", matrix, x) + _bias(conv).view(1, -1, 1, 1)
        checks.append(
            ClosedFormCheck(
                f"{c_in} → {c_out}", "per-pixel matrix product (einsum)", _max_diff(conv(x), mixed)
            )
        )
    worst = max(check.max_abs_diff for check in checks)
    return Measured({"max_diff": Estimate.exact(worst)}, ClosedForms(tuple(checks)))


def render_c1(m: Measured[ClosedForms], ctx: ReportContext) -> Rendered:
    return Rendered(
        f"largest difference from the closed forms {m.estimates['max_diff'].value:.1e}",
        [
            Table(
                "1×1 conv vs its closed form",
                ["channels", "closed form", "max |Δ|"],
                [[c.channels, c.closed_form, f"{c.max_abs_diff:.2e}"] for c in m.data.checks],
            )
        ],
    )


register_claim(
    Claim(
        "C1",
        "A 1×1 conv is scaling on one channel, a per-pixel channel mix on many",
        "On one channel a 1×1 kernel only multiplies by a coefficient; on C channels it is a learned "
        "linear combination of the channels at every pixel.",
        (
            Criterion(
                "max_diff",
                "equals w·x + b on one channel and a per-pixel matrix product on many",
                "largest |Δ| from the closed forms",
                holds=below(TOLERANCE),
            ),
        ),
        measure_c1,
        render_c1,
        "pytest tests/layers/test_pointwise.py -k c1_",
    )
)


# --- C2 ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FilterCount:
    """Pointwise(512, filters) on a 512×100×100 input, profiled on meta tensors."""

    filters: int  # D
    output_shape: tuple[int, ...]  # (1, D, 100, 100) when the claim holds
    params: int
    expected_params: int  # (512 + 1)·D
    macs: int


@dataclass(frozen=True)
class ChannelCounts:
    """C2's measurement: output shape and parameters of a 1×1 conv for several filter counts."""

    counts: tuple[FilterCount, ...]


def measure_c2(ctx: ReportContext) -> Measured[ChannelCounts]:
    counts, wrong = [], 0
    for filters in (32, 64, 256, 1024):
        totals = onebyone.profile(Pointwise(512, filters), (1, 512, 100, 100)).totals
        expected = (512 + 1) * filters
        wrong += totals["output_shape"] != [1, filters, 100, 100] or totals["params"] != expected
        counts.append(
            FilterCount(filters, tuple(totals["output_shape"]), totals["params"], expected, totals["macs"])
        )
    return Measured({"wrong": Estimate.exact(wrong)}, ChannelCounts(tuple(counts)))


def render_c2(m: Measured[ChannelCounts], ctx: ReportContext) -> Rendered:
    ok = m.estimates["wrong"].value == 0
    return Rendered(
        "every output is D×100×100 with exactly (512+1)·D parameters" if ok else "a shape or count differs",
        [
            Table(
                "Pointwise(512, D) on a 512×100×100 input (profiled on meta tensors)",
                ["D", "output C×H×W", "parameters", "(512+1)·D", "MACs"],
                [
                    [
                        c.filters,
                        "×".join(map(str, c.output_shape[1:])),
                        f"{c.params:,}",
                        f"{c.expected_params:,}",
                        f"{c.macs:,}",
                    ]
                    for c in m.data.counts
                ],
            )
        ],
    )


register_claim(
    Claim(
        "C2",
        "A 1×1 conv changes the number of channels and keeps H×W",
        "A 1×1 conv with D filters turns 100×100×512 into 100×100×D, with (512+1)·D parameters.",
        (
            Criterion(
                "wrong",
                "D×100×100 outputs with (512+1)·D parameters",
                "filter counts D whose shape or parameters differ",
                holds=NONE_DIFFER,
            ),
        ),
        measure_c2,
        render_c2,
        "onebyone profile onebyone.layers:Pointwise --set in_channels=512 --set out_channels=256 "
        "--input 512x100x100",
    )
)


# --- C12 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackedFields:
    """C12's measurement: two stacked 3×3 convs and one 5×5 conv, C channels in and out, no biases."""

    channels: int  # C
    stacked_field_px: int  # receptive-field side of the two 3×3 convs
    single_field_px: int  # of the 5×5 conv
    stacked_weights: int
    single_weights: int
    stacked_macs: int  # at 32×32
    single_macs: int


def measure_c12(ctx: ReportContext) -> Measured[StackedFields]:
    channels = 64
    two = nn.Sequential(
        nn.Conv2d(channels, channels, 3, bias=False), nn.Conv2d(channels, channels, 3, bias=False)
    )
    one = nn.Conv2d(channels, channels, 5, bias=False)
    r_two, r_one = onebyone.profile(two, (1, channels, 32, 32)), onebyone.profile(one, (1, channels, 32, 32))
    d = StackedFields(
        channels=channels,
        stacked_field_px=field_size(r_two, ""),
        single_field_px=field_size(r_one, ""),
        stacked_weights=r_two.totals["params"],
        single_weights=r_one.totals["params"],
        stacked_macs=r_two.totals["macs"],
        single_macs=r_one.totals["macs"],
    )
    wrong = (
        (d.stacked_field_px != 5)
        + (d.single_field_px != 5)
        + (d.stacked_weights != 18 * channels**2)
        + (d.single_weights != 25 * channels**2)
    )
    return Measured({"wrong": Estimate.exact(wrong)}, d)


def render_c12(m: Measured[StackedFields], ctx: ReportContext) -> Rendered:
    d = m.data
    return Rendered(
        f"both fields are {d.single_field_px}×{d.single_field_px}; {d.stacked_weights:,} vs "
        f"{d.single_weights:,} weights at C = {d.channels} ({d.stacked_weights / d.single_weights:.2f}×)",
        [
            Table(
                f"C = {d.channels}",
                ["form", "field", "weights", "formula", "MACs at 32×32"],
                [
                    [
                        "3×3 → 3×3",
                        d.stacked_field_px,
                        f"{d.stacked_weights:,}",
                        "18C²",
                        f"{d.stacked_macs:,}",
                    ],
                    ["5×5", d.single_field_px, f"{d.single_weights:,}", "25C²", f"{d.single_macs:,}"],
                ],
            )
        ],
    )


register_claim(
    Claim(
        "C12",
        "Two 3×3 convs see what one 5×5 sees, with fewer weights",
        "Two stacked 3×3 convs have the receptive field of one 5×5 conv with 18C² instead of 25C² weights.",
        (
            Criterion(
                "wrong",
                "a 5×5 field for both, 18C² and 25C² weights",
                "fields and weight counts that differ from the article's",
                holds=NONE_DIFFER,
            ),
        ),
        measure_c12,
        render_c12,
        'python -c "import onebyone, torch.nn as nn; print(onebyone.profile(nn.Conv2d(64, 64, 5), '
        "(1, 64, 32, 32)).totals['receptive_field'])\"",
    )
)


# --- C15 --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposedKernel:
    """C15's measurement: parameters of 3×3 conv 64 → 1×1 conv 28, and of the one 3×3 conv composed
    from them (16 input channels)."""

    factored_params: int
    composed_params: int


@torch.no_grad()
def measure_c15(ctx: ReportContext) -> Measured[ComposedKernel]:
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    conv3x3, conv1x1 = nn.Conv2d(16, 64, 3, padding=1), Pointwise(64, 28)
    mix = conv1x1.weight[:, :, 0, 0]  # (28, 64)
    composed = nn.Conv2d(16, 28, 3, padding=1)
    composed.weight.copy_(torch.einsum("om,mikl->oikl", mix, conv3x3.weight))
    _bias(composed).copy_(mix @ _bias(conv3x3) + _bias(conv1x1))
    x = torch.randn(2, 16, 20, 20, generator=generator)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    diff = _max_diff(conv1x1(conv3x3(x)), composed(x))
    data = ComposedKernel(count(conv3x3) + count(conv1x1), count(composed))
    return Measured({"max_diff": Estimate.exact(diff)}, data)


def render_c15(m: Measured[ComposedKernel], ctx: ReportContext) -> Rendered:
    factored, single = m.data.factored_params, m.data.composed_params
    diff = m.estimates["max_diff"].value
    return Rendered(
        f"the composed 3×3×28 kernel reproduces the two-layer output to {diff:.1e} (no ReLU between)",
        [
            Table(
                "16 input channels",
                ["form", "parameters", "max |Δ| vs factored"],
                [
                    ["3×3 conv 64 → 1×1 conv 28", f"{factored:,}", "—"],
                    ["one 3×3 conv 28 (composed kernel)", f"{single:,}", f"{diff:.1e}"],
                ],
            )
        ],
        findings=[f"parameters: factored {factored:,} (16 input channels), composed {single:,}"],
    )


register_claim(
    Claim(
        "C15",
        "3×3 (64) then 1×1 (28) is a 3×3 conv with 28 mixed channels",
        "A 3×3 conv with 64 outputs followed by a 1×1 conv with 28 outputs acts like one 3×3 conv with "
        "28 outputs whose channels are linear combinations.",
        (
            Criterion(
                "max_diff",
                "one composed 3×3×28 kernel gives the same output",
                "largest |Δ| composed vs factored",
                holds=below(1e-4),
                approximately=below(1e-2),
            ),
        ),
        measure_c15,
        render_c15,
        "pytest tests/layers/test_pointwise.py -k c15",
    )
)
