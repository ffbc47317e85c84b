"""Depthwise-separable convolution: a per-channel k×k conv, then a 1×1 conv that mixes channels.

Howard et al., "MobileNets" (2017): the 1×1 carries all of the cross-channel work.
"""

from __future__ import annotations

from torch import Tensor, nn

from onebyone.layers.conv_norm_act import ActivationFactory, ConvNormAct


class DepthwiseSeparable(nn.Module):
    """`depthwise` (k×k, groups=in_channels) → `pointwise` (1×1), each a ConvNormAct.

    Weights: k²·C_in + C_in·C_out instead of k²·C_in·C_out for a full conv.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        batch_norm: bool = True,
        activation: ActivationFactory | None = nn.ReLU,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.depthwise = ConvNormAct(
            in_channels,
            in_channels,
            kernel_size,
            stride=stride,
            groups=in_channels,
            batch_norm=batch_norm,
            activation=activation,
        )
        self.pointwise = ConvNormAct(
            in_channels, out_channels, 1, batch_norm=batch_norm, activation=activation
        )

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, C_out, H/s, W/s)
        return self.pointwise(self.depthwise(x))
