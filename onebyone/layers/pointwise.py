"""The pointwise (1×1) convolution: a per-pixel fully connected layer across channels.

Lin et al., "Network In Network" (2014) call it cross-channel parametric pooling (cccp).
"""

from __future__ import annotations

from torch import nn


class Pointwise(nn.Conv2d):
    """A 1×1 convolution `in_channels → out_channels` that keeps H×W.

    It is an `nn.Conv2d` (so profilers and BN folding see an ordinary conv) whose kernel is
    fixed at 1×1: each output pixel is `W @ x[:, i, j] + b` with one (out, in) matrix shared
    over all positions.
    """

    def __init__(self, in_channels: int, out_channels: int, *, stride: int = 1, bias: bool = True) -> None:
        super().__init__(in_channels, out_channels, kernel_size=1, stride=stride, bias=bias)


def pointwise(in_channels: int, out_channels: int, *, stride: int = 1, bias: bool = True) -> Pointwise:
    """Functional-style constructor for `Pointwise`."""
    return Pointwise(in_channels, out_channels, stride=stride, bias=bias)
