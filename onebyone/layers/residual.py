"""Residual blocks of ResNet (He et al., "Deep Residual Learning for Image Recognition", 2016).

The layout is torchvision's: the bottleneck puts its stride on the 3×3 conv ("ResNet v1.5"),
and a shortcut that changes shape is a 1×1 conv (stride s, no bias) followed by batch norm.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn


def _conv(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> nn.Conv2d:
    padding = kernel_size // 2
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)


def _downsample(in_channels: int, out_channels: int, stride: int) -> nn.Sequential | None:
    """The projection shortcut, or None when the identity fits."""
    if stride == 1 and in_channels == out_channels:
        return None
    return nn.Sequential(
        OrderedDict(conv=_conv(in_channels, out_channels, 1, stride), bn=nn.BatchNorm2d(out_channels))
    )


class BasicBlock(nn.Module):
    """Two 3×3 convs (each with BN) and a shortcut: `relu(bn2(conv2(relu(bn1(conv1(x))))) + x)`."""

    expansion = 1

    def __init__(self, in_channels: int, width: int, *, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = width * self.expansion
        self.conv1 = _conv(in_channels, width, 3, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, 3)
        self.bn2 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, self.out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, width, H/s, W/s)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1×1 reduce → 3×3 (stride here) → 1×1 expand ×4, each with BN, plus a shortcut."""

    expansion = 4

    def __init__(self, in_channels: int, width: int, *, stride: int = 1) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = width * self.expansion
        self.conv1 = _conv(in_channels, width, 1)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = _conv(width, width, 3, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = _conv(width, self.out_channels, 1)
        self.bn3 = nn.BatchNorm2d(self.out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(in_channels, self.out_channels, stride)

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, 4·width, H/s, W/s)
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)
