"""MLPConv (NIN), depthwise-separable conv, and claim C12 (two 3×3 vs one 5×5)."""

import pytest
import torch
from torch import nn

from onebyone.layers import DepthwiseSeparable, MLPConv


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize(
    "pointwise, batch_norm, dropout, children, expected_params",
    [
        # 5×5 3→16 (1200+16), 1×1 16→8 (128+8), 1×1 8→4 (32+4)
        ((8, 4), False, 0.0, ["conv", "pointwise1", "pointwise2"], 1388),
        ((), False, 0.0, ["conv"], 1216),
        # BN: conv biases go, each conv gains 2·C BN parameters: 1200+32 + 128+16 + 32+8
        ((8, 4), True, 0.5, ["conv", "pointwise1", "pointwise2", "dropout"], 1416),
    ],
)
def test_mlpconv_layout(pointwise, batch_norm, dropout, children, expected_params):
    block = MLPConv(3, 16, 5, pointwise, batch_norm=batch_norm, dropout=dropout)
    assert [name for name, _ in block.named_children()] == children
    assert n_params(block) == expected_params
    assert block.out_channels == (pointwise[-1] if pointwise else 16)
    assert block(torch.randn(2, 3, 9, 9)).shape == (2, block.out_channels, 9, 9)
    for name in children[1:]:
        if name.startswith("pointwise"):
            assert getattr(block, name).conv.kernel_size == (1, 1)
            assert isinstance(getattr(block, name).act, nn.ReLU)


def test_mlpconv_relu_after_every_conv_makes_outputs_non_negative():
    out = MLPConv(3, 8, 3, (8, 8))(torch.randn(2, 3, 6, 6))
    assert out.min() >= 0


@pytest.mark.parametrize("in_channels, out_channels", [(16, 32), (32, 64)])
def test_depthwise_separable_weights(in_channels, out_channels):
    block = DepthwiseSeparable(in_channels, out_channels, 3, batch_norm=False)
    weights = sum(m.weight.numel() for m in block.modules() if isinstance(m, nn.Conv2d))
    assert weights == 9 * in_channels + in_channels * out_channels
    assert block.depthwise.conv.groups == in_channels
    assert block(torch.randn(1, in_channels, 8, 8)).shape == (1, out_channels, 8, 8)


@pytest.mark.parametrize("channels", [8, 64, 256])
def test_c12_two_3x3_vs_one_5x5_weights(channels):
    with torch.device("meta"):
        two = nn.Sequential(
            nn.Conv2d(channels, channels, 3, bias=False), nn.Conv2d(channels, channels, 3, bias=False)
        )
        one = nn.Conv2d(channels, channels, 5, bias=False)
    assert n_params(two) == 18 * channels**2
    assert n_params(one) == 25 * channels**2


def _receptive_field(module: nn.Module, size: int = 15) -> int:
    """Side of the input region the centre output depends on, found with a gradient probe."""
    x = torch.randn(1, 1, size, size, requires_grad=True)
    out = module(x)
    out[0, 0, out.shape[-2] // 2, out.shape[-1] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


def test_c12_two_3x3_see_a_5x5_window():
    torch.manual_seed(0)
    two = nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))
    one = nn.Conv2d(1, 1, 5)
    assert _receptive_field(two) == _receptive_field(one) == 5
