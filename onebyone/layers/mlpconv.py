"""NIN's mlpconv layer: a k×k conv followed by n 1×1 convs, each with an activation.

Lin et al., "Network In Network" (2014), section 3.1; in Caffe the 1×1 layers are the
"cccp" layers.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from torch import nn

from onebyone.layers.conv_norm_act import ActivationFactory, ConvNormAct


class MLPConv(nn.Sequential):
    """`conv` (k×k) then `pointwise1` … `pointwiseN` (1×1), then `dropout` if `dropout > 0`.

    Every conv is a `ConvNormAct` (activation after each, batch norm if asked). With an empty
    `pointwise_channels` it is a plain conv layer, the "no 1×1" baseline.

    Args:
        in_channels: input channels.
        conv_channels: output channels of the k×k conv.
        kernel_size: k of the k×k conv.
        pointwise_channels: output channels of each 1×1 conv, in order.
        stride: stride of the k×k conv.
        padding: padding of the k×k conv (None: `kernel_size // 2`).
        batch_norm: batch norm after every conv.
        dropout: dropout probability after the last layer (0: no dropout module).
        activation: activation factory after every conv (None: linear).
        activation_last_only: the activation after the last layer only; the k×k conv and the
            1×1 convs before it then compose into one k×k conv (the parameter-matched control of
            "1×1 conv + ReLU adds non-linearity": same parameters, one non-linearity per stage).
    """

    def __init__(
        self,
        in_channels: int,
        conv_channels: int,
        kernel_size: int,
        pointwise_channels: Sequence[int] = (),
        *,
        stride: int = 1,
        padding: int | None = None,
        batch_norm: bool = False,
        dropout: float = 0.0,
        activation: ActivationFactory | None = nn.ReLU,
        activation_last_only: bool = False,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        inner = None if activation_last_only and pointwise_channels else activation
        layers["conv"] = ConvNormAct(
            in_channels,
            conv_channels,
            kernel_size,
            stride=stride,
            padding=padding,
            batch_norm=batch_norm,
            activation=inner,
        )
        channels = conv_channels
        for index, width in enumerate(pointwise_channels, start=1):
            last = index == len(pointwise_channels)
            layers[f"pointwise{index}"] = ConvNormAct(
                channels, width, 1, batch_norm=batch_norm, activation=activation if last else inner
            )
            channels = width
        if dropout > 0:
            layers["dropout"] = nn.Dropout(dropout)
        super().__init__(layers)
        self.in_channels = in_channels
        self.out_channels = channels
