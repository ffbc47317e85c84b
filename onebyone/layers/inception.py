"""The Inception module of GoogLeNet, naive and with 1×1 dimension reductions.

Szegedy et al., "Going Deeper with Convolutions" (2015), figure 2: (a) the naive module runs
1×1, 3×3 and 5×5 convs and a 3×3 max pool side by side on the input and concatenates the
results, so the pooled input's channels pass straight through; (b) puts 1×1 convs before the
3×3 and 5×5 convs and after the pool to cut the channel count.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from onebyone.errors import OneByOneError
from onebyone.layers.conv_norm_act import ConvNormAct


@dataclass(frozen=True)
class InceptionConfig:
    """Branch widths of one Inception module.

    A reduction width of None removes that 1×1 conv: with all three None the module is the
    naive one, whose pool branch passes the input channels through unchanged.
    """

    branch1x1: int
    branch3x3_reduce: int | None
    branch3x3: int
    branch5x5_reduce: int | None
    branch5x5: int
    pool_proj: int | None

    @property
    def reduced(self) -> bool:
        """True when every 1×1 reduction/projection is present (figure 2b)."""
        return None not in (self.branch3x3_reduce, self.branch5x5_reduce, self.pool_proj)

    def naive(self) -> InceptionConfig:
        """The same module without its 1×1 reductions and pool projection (figure 2a)."""
        return dataclasses.replace(self, branch3x3_reduce=None, branch5x5_reduce=None, pool_proj=None)

    def out_channels(self, in_channels: int) -> int:
        """Channels of the concatenated output for `in_channels` input channels."""
        pool = in_channels if self.pool_proj is None else self.pool_proj
        return self.branch1x1 + self.branch3x3 + self.branch5x5 + pool


class Inception(nn.Module):
    """One Inception module: four parallel branches concatenated along channels.

    Children: `branch1x1`; `branch3x3_reduce` (or None), `branch3x3`; `branch5x5_reduce`
    (or None), `branch5x5`; `branch_pool` (3×3 max pool, stride 1, pad 1) and `pool_proj`
    (or None). Every conv has a ReLU after it; with `batch_norm` each conv is conv → BN → ReLU
    and has no bias, otherwise it has a bias (the original Caffe layout).
    """

    def __init__(self, in_channels: int, config: InceptionConfig, *, batch_norm: bool = False) -> None:
        super().__init__()
        widths = [config.branch1x1, config.branch3x3, config.branch5x5]
        reductions = (config.branch3x3_reduce, config.branch5x5_reduce, config.pool_proj)
        widths += [w for w in reductions if w is not None]
        if in_channels <= 0 or any(w <= 0 for w in widths):
            raise OneByOneError(f"Inception widths must be positive; got in_channels={in_channels}, {config}")
        self.config = config
        self.in_channels = in_channels
        self.out_channels = config.out_channels(in_channels)

        def unit(cin: int, cout: int, k: int) -> ConvNormAct:
            return ConvNormAct(cin, cout, k, padding=k // 2, batch_norm=batch_norm, bn_eps=1e-3)

        self.branch1x1 = unit(in_channels, config.branch1x1, 1)
        mid3 = config.branch3x3_reduce
        self.branch3x3_reduce = None if mid3 is None else unit(in_channels, mid3, 1)
        self.branch3x3 = unit(in_channels if mid3 is None else mid3, config.branch3x3, 3)
        mid5 = config.branch5x5_reduce
        self.branch5x5_reduce = None if mid5 is None else unit(in_channels, mid5, 1)
        self.branch5x5 = unit(in_channels if mid5 is None else mid5, config.branch5x5, 5)
        self.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.pool_proj = None if config.pool_proj is None else unit(in_channels, config.pool_proj, 1)

    def forward(self, x: Tensor) -> Tensor:  # (N, C_in, H, W) -> (N, C_out, H, W)
        out1 = self.branch1x1(x)
        out3 = x if self.branch3x3_reduce is None else self.branch3x3_reduce(x)
        out3 = self.branch3x3(out3)
        out5 = x if self.branch5x5_reduce is None else self.branch5x5_reduce(x)
        out5 = self.branch5x5(out5)
        pooled = self.branch_pool(x)
        if self.pool_proj is not None:
            pooled = self.pool_proj(pooled)
        return torch.cat([out1, out3, out5, pooled], dim=1)
