"""Receptive fields through upsampling and transposed convolutions, against the real modules' gradients.

For three small dense-prediction nets (a U-Net with skip connections, an FCN with a transposed-conv
head, a net of nn.Upsample / F.interpolate in several modes and a crop) every output position's
field is measured: a one-hot at that position is backpropagated through a float64 copy with random
positive weights on a positive input, and the first and last input row and column with a non-zero
gradient are its extent. The profiler's exact extents must equal them at every position, and its
(size, stride, start) summary must hold them.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from onebyone.profiling import profile


class TinyUNet(nn.Module):
    """Two levels down (average pool, strided conv), back up with bilinear (align_corners, size=)
    and nearest (scale_factor=2), concatenating the skips."""

    def __init__(self) -> None:
        super().__init__()
        self.enc1 = nn.Conv2d(2, 3, 3, padding=1)
        self.enc2 = nn.Conv2d(3, 3, 3, padding=1)
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
        self.bottom = nn.Conv2d(3, 3, 3, padding=1)
        self.dec2 = nn.Conv2d(6, 3, 3, padding=1)
        self.dec1 = nn.Conv2d(6, 3, 3, padding=1)
        self.head = nn.Conv2d(3, 2, 1)
        self.act = nn.Tanh()

    def forward(self, x):
        skip1 = self.act(self.enc1(x))
        skip2 = self.act(self.enc2(F.avg_pool2d(skip1, 2)))
        deep = self.act(self.bottom(self.down(skip2)))
        up2 = F.interpolate(deep, size=skip2.shape[-2:], mode="bilinear", align_corners=True)
        y = self.act(self.dec2(torch.cat([up2, skip2], dim=1)))
        up1 = F.interpolate(y, scale_factor=2, mode="nearest")
        return self.head(self.act(self.dec1(torch.cat([up1, skip1], dim=1))))


def transposed_fcn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1),
        nn.Tanh(),
        nn.Conv2d(3, 3, 3, stride=2, padding=1),
        nn.Conv2d(3, 3, 1),
        nn.ConvTranspose2d(3, 3, 4, stride=2, padding=1),
        nn.Tanh(),
        nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1, output_padding=1, dilation=2),
    )


class Resamplers(nn.Module):
    """nn.Upsample bilinear at a non-integer scale, a crop, nearest-exact to a size, bicubic,
    and a bilinear downsample."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=1.5, mode="bilinear")
        self.conv1 = nn.Conv2d(2, 3, 3)
        self.conv2 = nn.Conv2d(3, 3, 3, padding=1)
        self.conv3 = nn.Conv2d(3, 2, 2)

    def forward(self, x):
        x = self.conv1(self.up(x))[:, :, 1:-1, 2:]
        x = F.interpolate(x, size=(x.shape[-2] * 2 + 1, x.shape[-1] + 3), mode="nearest-exact")
        x = self.conv2(F.interpolate(x, scale_factor=2, mode="bicubic"))
        return self.conv3(F.interpolate(x, size=(17, 13), mode="bilinear"))


NETS = [
    ("u-net", TinyUNet, (1, 2, 20, 22)),
    ("transposed-conv FCN", transposed_fcn, (1, 2, 16, 18)),
    ("upsample modes", Resamplers, (1, 2, 9, 11)),
]


def positive_copy(model: nn.Module) -> nn.Module:
    probe = model.double().eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in probe.parameters():
            param.copy_(
                (torch.rand(param.shape, generator=generator, dtype=torch.float64) + 0.5) / param[0].numel()
            )
    return probe


def gradient_extents(model: nn.Module, shape) -> dict[tuple[int, int], tuple]:
    """(rows, cols) of the input pixels with a non-zero gradient, for every output position (None
    where no pixel has one)."""
    probe = positive_copy(model)
    x = (
        torch.rand(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) + 0.5
    ).requires_grad_()
    out = probe(x)
    found = {}
    for i in range(out.shape[-2]):
        for j in range(out.shape[-1]):
            (grad,) = torch.autograd.grad(out[0, :, i, j].sum(), x, retain_graph=True)
            nonzero = grad[0].abs().sum(0) != 0
            rows, cols = nonzero.any(1).nonzero().flatten(), nonzero.any(0).nonzero().flatten()
            found[i, j] = (
                ((rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item()))
                if len(rows)
                else None  # only bias reaches this position
            )
    return found


@pytest.mark.parametrize(("name", "build", "shape"), NETS, ids=[n[0] for n in NETS])
def test_exact_extents_equal_the_gradient_field(name, build, shape):
    model = build()
    result = profile(model, shape)
    field = result.field_of()
    assert field is not None and field.spatial and field.extents is not None, result.warnings
    measured = gradient_extents(model, shape)
    assert len(measured) == math.prod(result.totals["output_shape"][-2:])
    computed = {position: field.extent(position) for position in measured}
    mismatched = {p: (computed[p], measured[p]) for p in measured if computed[p] != measured[p]}
    assert not mismatched, f"{len(mismatched)} positions differ, e.g. {next(iter(mismatched.items()))}"


@pytest.mark.parametrize(("name", "build", "shape"), NETS, ids=[n[0] for n in NETS])
def test_summary_band_holds_every_position(name, build, shape):
    model = build()
    result = profile(model, shape)
    axes = result.totals["receptive_field"]["axes"]
    field = result.field_of()
    out_h, out_w = result.totals["output_shape"][-2:]
    for i in range(out_h):
        for j in range(out_w):
            extents = field.extent((i, j))
            if extents is None:  # reads no pixel: nothing to hold
                continue
            for a, p, extent in zip(axes, (i, j), extents, strict=True):
                centre = a["start"] + p * a["stride"]
                assert centre - (a["size"] - 1) / 2 <= extent[0] + 1e-4
                assert extent[1] <= centre + (a["size"] - 1) / 2 + 1e-4


@pytest.mark.parametrize(
    ("layer", "size", "stride", "start"),
    [
        (nn.Upsample(scale_factor=2), 1.5, 0.5, -0.25),  # outputs 2i and 2i+1 both read input i
        (nn.ConvTranspose2d(1, 1, 2, stride=2), 1.5, 0.5, -0.25),  # the same index map
        (nn.Upsample(scale_factor=2, mode="bilinear"), 2.5, 0.5, -0.25),  # reads i-1, i or i, i+1
        # 4 -> 7: output 2i reads input i alone, 2i+1 reads i and i+1
        (nn.Upsample(size=7, mode="bilinear", align_corners=True), 2, 0.5, 0),
    ],
)
def test_upsample_summary_by_hand(layer, size, stride, start):
    result = profile(nn.Sequential(layer), (1, 1, 4, 4))
    h = result.totals["receptive_field"]["axes"][0]
    assert result.warnings == []
    assert (h["size"], h["stride"], h["start"]) == pytest.approx((size, stride, start), abs=1e-4)


def test_unet_field_is_local_not_global():
    # Before upsampling was modelled, F.interpolate folded the field into a global one.
    result = profile(TinyUNet(), (1, 2, 20, 22))
    field = result.totals["receptive_field"]
    assert field["spatial"] is True
    assert [a["stride"] for a in field["axes"]] == [1, 1]
    # the corner reaches 14 pixels in: dec1, up1 (row 0), dec2, up2 (rows 0-1), bottom, the
    # strided down conv (rows 0-5 of skip2), enc2, the 2×2 pool (rows 0-13), enc1
    assert result.field_of().extent((0, 0)) == ((0, 14), (0, 14))


class UpsampledGap(nn.Module):
    """A GAP classifier whose class maps come from a strided conv, a 2× bilinear upsample and a
    1×1 conv: its class activation maps sit half a pixel up-left of the cell grid's pixels."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Upsample(scale_factor=2, mode="bilinear")
        )
        self.classes = nn.Conv2d(4, 3, 1)

    def forward(self, x):
        return self.classes(self.features(x)).mean(dim=(2, 3))


def test_class_map_cells_are_centred_inside_their_fields():
    from onebyone.insight.boxes import output_geometry
    from onebyone.insight.cam import class_map_network

    network, method = class_map_network(UpsampledGap(), (1, 2, 12, 12))
    assert method == "class activation maps"
    geometry = output_geometry(network, (1, 2, 12, 12))
    assert geometry.stride == (1, 1) and geometry.start == (-0.5, -0.5)
    measured = gradient_extents(network, (1, 2, 12, 12))
    for (i, j), (rows, cols) in measured.items():
        centre_y, centre_x = (
            geometry.start[0] + i * geometry.stride[0],
            geometry.start[1] + j * geometry.stride[1],
        )
        assert rows[0] - 0.5 <= centre_y <= rows[1] and cols[0] - 0.5 <= centre_x <= cols[1]
