"""Claim C8: basic block vs bottleneck weights; torchvision's block layout."""

import pytest
import torch
from torch import nn

from onebyone.layers import BasicBlock, Bottleneck


def conv_weights(module: nn.Module) -> int:
    return sum(m.weight.numel() for m in module.modules() if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize("channels, expected", [(64, 73_728), (256, 1_179_648)])
def test_c8_basic_block_weights(channels, expected):
    block = BasicBlock(channels, channels)
    assert block.downsample is None
    assert conv_weights(block) == expected == 2 * 9 * channels * channels


def test_c8_bottleneck_weights():
    block = Bottleneck(256, 64)
    assert block.downsample is None and block.out_channels == 256
    assert conv_weights(block) == 69_632 == 256 * 64 + 9 * 64 * 64 + 64 * 256


@pytest.mark.parametrize(
    "block_type, in_channels, width, stride, out_shape",
    [
        (BasicBlock, 64, 64, 1, (2, 64, 8, 8)),
        (BasicBlock, 64, 128, 2, (2, 128, 4, 4)),
        (Bottleneck, 64, 64, 1, (2, 256, 8, 8)),
        (Bottleneck, 256, 128, 2, (2, 512, 4, 4)),
    ],
)
def test_block_shapes(block_type, in_channels, width, stride, out_shape):
    block = block_type(in_channels, width, stride=stride)
    assert block(torch.randn(2, in_channels, 8, 8)).shape == out_shape


def test_bottleneck_stride_is_on_the_3x3_and_shortcut_is_1x1_conv_bn():
    block = Bottleneck(256, 128, stride=2)
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2) and block.conv3.stride == (1, 1)
    conv, bn = block.downsample
    assert conv.kernel_size == (1, 1) and conv.stride == (2, 2) and conv.bias is None
    assert isinstance(bn, nn.BatchNorm2d) and bn.num_features == 512


def test_identity_shortcut_adds_input():
    torch.manual_seed(0)
    block = BasicBlock(4, 4).eval()
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.zero_()
    x = torch.randn(1, 4, 5, 5)
    # Zero convs leave only BN's (zero) shift: output is relu(0 + x).
    torch.testing.assert_close(block(x), torch.relu(x))
