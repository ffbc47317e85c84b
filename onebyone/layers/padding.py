"""TensorFlow's "SAME" padding: the output has ceil(in / stride) positions and the extra pixel of an
uneven total goes at the bottom/right.

PyTorch's `padding=k // 2` pads both sides alike, which agrees with TF for stride 1 and odd k, and
for stride 2 on an odd input; on an even input with stride 2 TF pads one pixel less at the top/left,
so every output position reads a window one pixel further down and right. Weights trained in
TensorFlow (EfficientNet-Lite's) are used with the padding they were trained with.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, fx, nn


def same_padding(size: int, kernel_size: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding of one axis of length `size`, as TensorFlow's "SAME"."""
    span = (kernel_size - 1) * dilation + 1
    total = max((-(-size // stride) - 1) * stride + span - size, 0)
    return total // 2, total - total // 2


def pad_same(x: Tensor, kernel_size: int, stride: int, dilation: int) -> Tensor:
    """Zero-pad (N, C, H, W) as TensorFlow's "SAME" would before a conv with these settings."""
    top, bottom = same_padding(x.shape[-2], kernel_size, stride, dilation)
    left, right = same_padding(x.shape[-1], kernel_size, stride, dilation)
    if top == bottom == left == right == 0:
        return x
    return F.pad(x, (left, right, top, bottom))


# The padding depends on the input size, so torch.fx records the call as one node (a leaf) instead
# of tracing through the arithmetic on the shape; the surgery and inspect tools trace the zoo.
fx.wrap("pad_same")


class SamePad2d(nn.Module):
    """TensorFlow-"SAME" zero padding in front of a conv with `padding=0` (computed per input size)."""

    def __init__(self, kernel_size: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride
        self.dilation = dilation

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, C, H + pad, W + pad)
        return pad_same(x, self.kernel_size, self.stride, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, dilation={self.dilation}"
