"""Pooling: global average pooling (NIN), spatial pyramid pooling (SPP-net), Caffe-style ceil pooling.

He et al., "Spatial Pyramid Pooling in Deep Convolutional Networks for Visual Recognition"
(2014): a level with n×n bins on an a×a map pools with window ceil(a/n) and stride floor(a/n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from onebyone.errors import OneByOneError


def caffe_max_pool(kernel_size: int, stride: int, padding: int = 0) -> nn.MaxPool2d:
    """Max pooling that rounds the output size up, as Caffe does: ceil((in + 2p − k)/s) + 1."""
    return nn.MaxPool2d(kernel_size, stride=stride, padding=padding, ceil_mode=True)


def caffe_avg_pool(kernel_size: int, stride: int, padding: int = 0) -> nn.AvgPool2d:
    """Average pooling that rounds the output size up, as Caffe does."""
    return nn.AvgPool2d(kernel_size, stride=stride, padding=padding, ceil_mode=True)


class GlobalAvgPool(nn.Module):
    """Average each channel over H×W: (N, C, H, W) → (N, C) or, with `flatten=False`, (N, C, 1, 1)."""

    def __init__(self, *, flatten: bool = True) -> None:
        super().__init__()
        self.flatten = flatten

    def forward(self, x: Tensor) -> Tensor:
        return x.mean(dim=(2, 3), keepdim=not self.flatten)

    def extra_repr(self) -> str:
        return f"flatten={self.flatten}"


def spp_window(size: int, bins: int) -> tuple[int, int]:
    """SPP-net's (window, stride) for `bins` bins along a side of length `size`."""
    return math.ceil(size / bins), size // bins


class SpatialPyramidPool(nn.Module):
    """Pool each of `levels` into an n×n grid and concatenate: (N, C, H, W) → (N, C·Σn²).

    Each level uses SPP-net's rule, window ceil(a/n) and stride floor(a/n), per side. The rule
    gives exactly n bins when a = qn + r with r ≤ q, which covers every side a ≥ n(n−1); for the
    few smaller sides where it would give more than n bins, the level falls back to adaptive
    pooling (bin i spans [floor(i·a/n), ceil((i+1)·a/n))), so the output length stays fixed for
    any input at least as large as the finest level. Smaller inputs raise OneByOneError.

    The output is ordered level by level, each level channel-major (C, n, n) flattened.
    """

    def __init__(self, levels: Sequence[int] = (4, 2, 1), *, mode: str = "max") -> None:
        super().__init__()
        if mode not in ("max", "avg"):
            raise OneByOneError(f"SPP mode must be 'max' or 'avg', got {mode!r}")
        levels = tuple(int(n) for n in levels)
        if not levels or any(n < 1 for n in levels):
            raise OneByOneError(f"SPP levels must be positive integers, got {levels!r}")
        self.levels = levels
        self.mode = mode

    def output_length(self, channels: int) -> int:
        """Length of the pooled vector for `channels` input channels: C·Σn²."""
        return channels * sum(n * n for n in self.levels)

    def forward(self, x: Tensor) -> Tensor:  # (N, C, H, W) -> (N, C·Σn²)
        height, width = x.shape[-2:]
        finest = max(self.levels)
        if height < finest or width < finest:
            raise OneByOneError(
                f"SPP input {height}×{width} is smaller than its finest level {finest}×{finest}"
            )
        return torch.cat([self._pool_level(x, n).flatten(1) for n in self.levels], dim=1)

    def _pool_level(self, x: Tensor, bins: int) -> Tensor:
        height, width = x.shape[-2:]
        (window_h, stride_h), (window_w, stride_w) = spp_window(height, bins), spp_window(width, bins)
        if (height - window_h) // stride_h + 1 == bins and (width - window_w) // stride_w + 1 == bins:
            pool = F.max_pool2d if self.mode == "max" else F.avg_pool2d
            return pool(x, (window_h, window_w), (stride_h, stride_w))
        adaptive = F.adaptive_max_pool2d if self.mode == "max" else F.adaptive_avg_pool2d
        return adaptive(x, bins)

    def extra_repr(self) -> str:
        return f"levels={self.levels}, mode={self.mode!r}"
