"""Conv → optional batch norm → optional activation, the unit every zoo model is built from."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from torch import nn

from onebyone.layers.padding import SamePad2d

ActivationFactory = Callable[[], nn.Module]


class ConvNormAct(nn.Sequential):
    """`conv` (k×k), then `bn` if `batch_norm`, then `act` if `activation` is not None.

    With `padding="same"` and a stride above 1 a `pad` child (TensorFlow's "SAME", see
    `SamePad2d`) comes first and the conv itself does not pad.

    Children are named `conv`, `bn`, `act` so that a BN-folding pass finds the (conv, bn) pair.
    The conv has a bias only when there is no batch norm (BN's shift makes it redundant),
    unless `bias` says otherwise.

    Args:
        in_channels: input channels.
        out_channels: output channels (number of kernels).
        kernel_size: square kernel side.
        stride: conv stride.
        padding: zero padding; None gives `kernel_size // 2` on every side; "same" gives TensorFlow's
            "SAME" (ceil(size / stride) outputs, the odd pixel of padding at the bottom/right).
        groups: conv groups (in_channels for a depthwise conv).
        batch_norm: add `nn.BatchNorm2d` after the conv.
        activation: factory for the activation module (default ReLU); None for none.
        bias: force the conv bias on or off; None means "not batch_norm".
        bn_eps: BatchNorm epsilon.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        padding: int | str | None = None,
        groups: int = 1,
        batch_norm: bool = False,
        activation: ActivationFactory | None = nn.ReLU,
        bias: bool | None = None,
        bn_eps: float = 1e-5,
    ) -> None:
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        if padding == "same" and stride > 1:
            layers["pad"] = SamePad2d(kernel_size, stride)
            padding = 0
        elif padding in (None, "same"):  # stride 1: the same on both sides (exact for odd kernels)
            padding = kernel_size // 2
        if bias is None:
            bias = not batch_norm
        layers["conv"] = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride=stride, padding=padding, groups=groups, bias=bias
        )
        if batch_norm:
            layers["bn"] = nn.BatchNorm2d(out_channels, eps=bn_eps)
        if activation is not None:
            layers["act"] = activation()
        super().__init__(layers)
        self.in_channels = in_channels
        self.out_channels = out_channels
