"""The inverted bottleneck (MBConv) of MobileNetV2 and EfficientNet.

Sandler et al., "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (2018); Tan and Le,
"EfficientNet" (2019). A 1×1 conv expands the channels by `expand_ratio`, a k×k depthwise conv
filters each channel alone, and a 1×1 conv projects back down with no activation (the "linear
bottleneck"); the input is added when the shapes agree. Both 1×1s do all of the channel mixing
and, at expand ratio 6, hold most of the block's weights. EfficientNet-Lite's block is this one:
ReLU6, no squeeze-and-excitation.
"""

from __future__ import annotations

from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.layers.conv_norm_act import ActivationFactory, ConvNormAct


class InvertedResidual(nn.Module):
    """`expand` (1×1, absent at expand ratio 1) → `depthwise` (k×k) → `project` (1×1, linear), + x.

    Each is a ConvNormAct (conv, batch norm, activation; `project` has no activation). The
    shortcut is the identity when stride is 1 and the channels agree, and absent otherwise.
    Weights: C_in·E + k²·E + E·C_out, with E = C_in · expand_ratio, plus 2 per BN channel.

    Args:
        in_channels: input channels.
        out_channels: output channels.
        kernel_size: depthwise kernel side.
        stride: depthwise stride.
        expand_ratio: hidden channels per input channel.
        activation: after the expansion and the depthwise conv (default ReLU6).
        padding: the depthwise conv's padding; "same" for TensorFlow's (see `SamePad2d`).
        bn_eps: BatchNorm epsilon (1e-3 in the TensorFlow definitions).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        expand_ratio: int = 6,
        activation: ActivationFactory = nn.ReLU6,
        padding: int | str | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if expand_ratio < 1:
            raise OneByOneError(f"expand_ratio must be an integer ≥ 1, got {expand_ratio}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        hidden = in_channels * expand_ratio
        self.expand = (
            ConvNormAct(in_channels, hidden, 1, batch_norm=True, activation=activation, bn_eps=bn_eps)
            if expand_ratio != 1
            else None
        )
        self.depthwise = ConvNormAct(
            hidden,
            hidden,
            kernel_size,
            stride=stride,
            padding=padding,
            groups=hidden,
            batch_norm=True,
            activation=activation,
            bn_eps=bn_eps,
        )
        self.project = ConvNormAct(hidden, out_channels, 1, batch_norm=True, activation=None, bn_eps=bn_eps)
        self.residual = stride == 1 and in_channels == out_channels

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, C_out, H/s, W/s)
        out = x if self.expand is None else self.expand(x)  # (N, E, H, W)
        out = self.project(self.depthwise(out))
        return out + x if self.residual else out

    def extra_repr(self) -> str:
        return f"residual={self.residual}"
