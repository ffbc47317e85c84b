"""Receptive fields: hand-worked cases, warnings where paths disagree, and a gradient probe on the zoo.

The probe finds which input pixels can change one output pixel: it backpropagates from that pixel
through a float64 copy of the model whose convs and linears average their inputs (all weights
1/fan_in, biases 0), whose max pools are swapped for average pools with the same geometry (a max
pool passes gradient to one pixel per window only), on a strictly positive input, so every ReLU is
active and no gradient can cancel. The nonzero-gradient extent is then exactly the field.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from onebyone.layers.inception import Inception, InceptionConfig
from onebyone.models.registry import create_model
from onebyone.profiling import profile


def axis(result, path="", call=0, index=0):
    row = result.row(path, call)
    return row.receptive_field["axes"][index]


class ConcatBlock(nn.Module):
    """1×1 | 3×3 | 5×5 | 3×3 max pool, concatenated: the field is the 5×5 branch's, 5."""

    def __init__(self) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(4, 2, 1)
        self.b3 = nn.Conv2d(4, 2, 3, padding=1)
        self.b5 = nn.Conv2d(4, 2, 5, padding=2)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)


def test_concat_block_field_is_5():
    result = profile(ConcatBlock(), (1, 4, 16, 16))
    field = result.totals["receptive_field"]
    assert [a["size"] for a in field["axes"]] == [5, 5]
    assert [a["stride"] for a in field["axes"]] == [1, 1]
    assert result.warnings == []


def test_zoo_inception_block_field_is_5():
    block = Inception(192, InceptionConfig(64, 96, 128, 16, 32, 32))
    result = profile(block, (1, 192, 28, 28))
    assert [a["size"] for a in result.totals["receptive_field"]["axes"]] == [5, 5]


@pytest.mark.parametrize(
    ("layers", "size", "stride", "start"),
    [
        ([nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)], 5, 1, 2),  # two 3×3 see 5×5 (C12)
        ([nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 1)], 3, 1, 1),  # a 1×1 adds nothing (C3)
        ([nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 3)], 7, 2, 2),
        ([nn.Conv2d(1, 1, 3, dilation=2)], 5, 1, 2),
        ([nn.Conv2d(1, 1, 11, stride=4), nn.MaxPool2d(3, 2, ceil_mode=True)], 19, 8, 9),
        ([nn.Conv2d(1, 1, 2, stride=2)], 2, 2, 0.5),
        ([nn.Conv2d(1, 1, 3), nn.ReLU(), nn.BatchNorm2d(1), nn.Dropout()], 3, 1, 1),
    ],
)
def test_chain_fields(layers, size, stride, start):
    result = profile(nn.Sequential(*layers), (1, 1, 64, 64))
    a = axis(result)
    assert (a["size"], a["stride"], a["start"]) == (size, stride, start)


def test_axes_are_separate():
    result = profile(nn.Conv2d(1, 1, (3, 7), stride=(1, 2), padding=(1, 0)), (1, 1, 32, 32))
    h, w = axis(result, index=0), axis(result, index=1)
    assert (h["size"], h["stride"], h["start"]) == (3, 1, 0)
    assert (w["size"], w["stride"], w["start"]) == (7, 2, 3)


def test_global_pool_and_linear_cover_everything():
    body = [nn.Conv2d(1, 2, 3, stride=2, padding=1)]  # 16×16 -> 8×8, field 3, stride 2, centre 0
    gap = profile(nn.Sequential(*body, nn.AdaptiveAvgPool2d(1)), (1, 1, 16, 16))
    fc = profile(nn.Sequential(*body, nn.Flatten(), nn.Linear(128, 3)), (1, 1, 16, 16))

    class SpatialMean(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3))

    mean = profile(nn.Sequential(*body, SpatialMean()), (1, 1, 16, 16))
    for result in (gap, fc, mean):
        field = result.totals["receptive_field"]
        assert not field["spatial"]
        # positions 0..7 at stride 2 with field 3: input pixels -1..15 (padding included)
        assert field["axes"][0]["size"] == 17 and field["axes"][0]["start"] == 7


class TwoPaths(nn.Module):
    def __init__(self, a: nn.Module, b: nn.Module) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x):
        return self.a(x) + self.b(x)


def test_add_warns_when_paths_disagree():
    # both 8×8 -> 4×4, but with stride 2 vs stride 1
    strides = TwoPaths(nn.Conv2d(1, 1, 1, stride=2), nn.Conv2d(1, 1, 5))
    assert any("stride" in w for w in profile(strides, (1, 1, 8, 8)).warnings)
    # same stride, centres 0 and 0.5
    shifted = TwoPaths(nn.Conv2d(1, 1, 1, stride=2), nn.Conv2d(1, 1, 2, stride=2))
    result = profile(shifted, (1, 1, 8, 8))
    assert any("alignment" in w for w in result.warnings)
    a = axis(result)
    assert (a["size"], a["stride"]) == (2, 2)  # union of [0, 0] and [0, 1]
    aligned = TwoPaths(nn.Conv2d(1, 1, 3, stride=2, padding=1), nn.Conv2d(1, 1, 1, stride=2))
    assert profile(aligned, (1, 1, 8, 8)).warnings == []


# -- gradient probe -----------------------------------------------------------------------------


def averaging_copy(model: nn.Module) -> nn.Module:
    probe = copy.deepcopy(model).double().eval()
    for name, module in list(probe.named_modules()):
        if isinstance(module, nn.MaxPool2d):
            parent = probe.get_submodule(name.rpartition(".")[0]) if "." in name else probe
            setattr(
                parent,
                name.rpartition(".")[2],
                nn.AvgPool2d(module.kernel_size, module.stride, module.padding, ceil_mode=module.ceil_mode),
            )
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
    return probe


def probe_extent(model: nn.Module, path: str, shape, position):
    """Rows and columns of input pixels with nonzero gradient from output pixel `position`."""
    probe = averaging_copy(model)
    captured = {}
    probe.get_submodule(path).register_forward_hook(lambda m, a, out: captured.setdefault("out", out))
    x = (torch.rand(shape, dtype=torch.float64) + 0.5).requires_grad_(True)
    probe(x)
    i, j = position
    captured["out"][0, :, i, j].sum().backward()
    nonzero = x.grad[0].abs().sum(0) != 0
    rows = nonzero.any(1).nonzero().flatten()
    cols = nonzero.any(0).nonzero().flatten()
    return (rows.min().item(), rows.max().item()), (cols.min().item(), cols.max().item())


@pytest.mark.parametrize(
    ("name", "path", "shape", "expected"),
    [
        ("nin-imagenet", "features.stage4", (1, 3, 224, 224), (195, 32)),  # SPEC: conv4 195 at stride 32
        ("nin-imagenet", "features.pool2", (1, 3, 224, 224), (67, 16)),
        ("nin-cifar", "features", (1, 3, 64, 64), None),
        ("resnet18", "layer2", (1, 3, 224, 224), None),
        ("resnet50", "layer1", (1, 3, 128, 128), None),
        ("googlenet", "inceptions.inception3b", (1, 3, 224, 224), None),  # concat branches + LRN
    ],
)
def test_fields_agree_with_gradient_probe(name, path, shape, expected):
    model = create_model(name)
    result = profile(model, shape)
    row = result.row(path)
    out_h, out_w = row.output_shape[-2:]
    h, w = row.receptive_field["axes"]
    if expected is not None:
        assert (h["size"], h["stride"]) == expected
    # the position nearest the centre whose field lies wholly inside the input
    position, want = [], []
    for a, n_out, n_in in ((h, out_h, shape[2]), (w, out_w, shape[3])):
        for p in sorted(range(n_out), key=lambda p: abs(p - (n_out - 1) / 2)):
            low = a["start"] + p * a["stride"] - (a["size"] - 1) / 2
            high = low + a["size"] - 1
            if 0 <= low and high <= n_in - 1:
                position.append(p)
                want.append((low, high))
                break
        else:
            pytest.fail("every position's field is clipped; use a larger input")
    assert probe_extent(model, path, shape, tuple(position)) == tuple(want)


def test_functional_pad_shifts_the_centre():
    class Padded(nn.Module):
        def forward(self, x):
            weight = x.new_ones(1, 1, 3, 5)  # built from x's shape only: no field of its own
            return nn.functional.conv2d(nn.functional.pad(x, (1, 1, 2, 2)), weight)

    h, w = profile(Padded(), (1, 1, 8, 8)).totals["receptive_field"]["axes"]
    assert (h["size"], h["start"]) == (3, -1)  # 2 rows of padding on top, kernel 3
    assert (w["size"], w["start"]) == (5, 1)  # 1 column of padding on the left, kernel 5


def test_local_response_norm_keeps_the_spatial_field():
    # LRN pools over channels with avg_pool3d: the H, W field must pass through unchanged
    result = profile(nn.Sequential(nn.Conv2d(3, 8, 3), nn.LocalResponseNorm(5)), (1, 3, 16, 16))
    assert result.warnings == []
    assert [a["size"] for a in result.totals["receptive_field"]["axes"]] == [3, 3]
