"""FC → conv: every linear layer of a classifier head becomes a convolution (claim C9).

A linear layer on a flattened C×H×W map is a conv with an H×W kernel; on the output of global
pooling or of another such layer it is a 1×1 conv (Sermanet et al., "OverFeat", 2014; Long,
Shelhamer and Darrell, "Fully Convolutional Networks", 2015). The converted network gives the
same output at the original input size and, on a larger input, a map of class scores: each cell
is the original network applied to one window of the input. The rewrite itself lives in
`onebyone.surgery.heads` (class activation maps use it too); the folder `onebyone convert fc2conv`
writes is `onebyone.runs.converted`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from onebyone.surgery.heads import FcToConvResult, LayerConversion, convert_fc_layers

__all__ = ["FcToConvResult", "LayerConversion", "convert_fc_layers", "fc_to_conv"]


def fc_to_conv(model: nn.Module, input_shape: Sequence[int]) -> nn.Module:
    """A copy of `model` with every linear layer turned into a convolution (see `convert_fc_layers`).

    At `input_shape` the copy returns what `model` returns; on a larger input, a class map
    (N, num_classes, h, w). Raises OneByOneError naming the layer that cannot be converted.
    """
    return convert_fc_layers(model, input_shape).model
