"""Linear maps of an image as convolution kernels, and the algebra that merges them exactly.

Every op that re-parameterisation merges is a 2-d convolution: a batch norm is a 1×1 depthwise conv
with weight γ/√(σ²+ε) and bias β − μγ/√(σ²+ε); an identity is a 1×1 depthwise conv of ones; a k×k
average pool (zero padding counted) is a k×k depthwise conv of 1/k². Two such maps compose or add
to one conv under the conditions checked here; each function returns the merged kernel or, when
the result would not compute exactly what the parts compute, the reason as a string. The algebra
runs in float64, so merging adds no error beyond the final cast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class Kernel:
    """A Conv2d's computation: weight (C_out, C_in/groups, kh, kw), bias (C_out), stride, padding."""

    weight: Tensor
    bias: Tensor
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int

    @property
    def out_channels(self) -> int:
        return self.weight.shape[0]

    @property
    def in_channels(self) -> int:
        return self.weight.shape[1] * self.groups

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.weight.shape[2:])

    @property
    def macs(self) -> int:
        """Multiply-accumulates per output position."""
        return self.weight[0].numel() * self.out_channels

    def describe(self) -> str:
        group = "" if self.groups == 1 else " depthwise" if self.weight.shape[1] == 1 else f" g{self.groups}"
        stride = "" if self.stride == (1, 1) else f" s{self.stride[0]}"
        return f"{self.size[0]}×{self.size[1]}{group}{stride}"


def diagonal(scale: Tensor, shift: Tensor) -> Kernel:
    """Per-channel y = scale·x + shift as a 1×1 depthwise kernel (identity, batch norm, layer scale)."""
    channels = scale.numel()
    weight = scale.detach().double().reshape(channels, 1, 1, 1).clone()
    return Kernel(weight, shift.detach().double().reshape(channels).clone(), (1, 1), (0, 0), channels)


def identity(channels: int) -> Kernel:
    return diagonal(torch.ones(channels), torch.zeros(channels))


def batch_norm(norm: nn.Module) -> Kernel:
    std = (norm.running_var.double() + norm.eps).sqrt()
    gamma = norm.weight.double() if norm.weight is not None else torch.ones_like(std)
    beta = norm.bias.double() if norm.bias is not None else torch.zeros_like(std)
    scale = gamma / std
    return diagonal(scale, beta - norm.running_mean.double() * scale)


def avg_pool(
    channels: int, size: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int]
) -> Kernel:
    weight = torch.full((channels, 1, *size), 1.0 / (size[0] * size[1]), dtype=torch.float64)
    return Kernel(weight, torch.zeros(channels, dtype=torch.float64), stride, padding, channels)


def from_conv(conv: nn.Conv2d) -> Kernel:
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros(conv.out_channels)
    weight = conv.weight.detach().double().clone()
    return Kernel(weight, bias.double().clone(), tuple(conv.stride), tuple(conv.padding), conv.groups)


def to_conv(kernel: Kernel, like: Tensor) -> nn.Conv2d:
    """An nn.Conv2d computing `kernel`, with parameters of `like`'s dtype and device."""
    conv = nn.Conv2d(
        kernel.in_channels,
        kernel.out_channels,
        kernel.size,
        stride=kernel.stride,
        padding=kernel.padding,
        groups=kernel.groups,
    )
    with torch.no_grad():
        conv.weight = nn.Parameter(kernel.weight.to(like), requires_grad=like.requires_grad)
        conv.bias = nn.Parameter(kernel.bias.to(like), requires_grad=like.requires_grad)
    return conv.eval()


def regroup(kernel: Kernel, groups: int) -> Kernel:
    """The same map written with `groups` groups, which must divide kernel.groups (zeros fill in)."""
    if groups == kernel.groups:
        return kernel
    out_c, fine_in = kernel.out_channels, kernel.weight.shape[1]
    coarse_in = kernel.in_channels // groups
    out = torch.arange(out_c)
    # Output channel o reads inputs [f·fine_in, (f+1)·fine_in) of its fine group f; within its coarse
    # group c those start at f·fine_in − c·coarse_in.
    offset = (out // (out_c // kernel.groups)) * fine_in - (out // (out_c // groups)) * coarse_in
    columns = (offset[:, None] + torch.arange(fine_in)[None, :])[:, :, None, None]
    weight = torch.zeros(out_c, coarse_in, *kernel.size, dtype=kernel.weight.dtype)
    weight.scatter_(1, columns.expand(-1, -1, *kernel.size), kernel.weight)
    return Kernel(weight, kernel.bias, kernel.stride, kernel.padding, groups)


def _grouped(weight: Tensor, groups: int) -> Tensor:
    """(C_out, C_in/g, kh, kw) as (g, C_out/g, C_in/g, kh, kw)."""
    return weight.reshape(groups, weight.shape[0] // groups, *weight.shape[1:])


def compose(first: Kernel, second: Kernel) -> Kernel | str:
    """`second` applied to `first`'s output as one kernel, or why that would not be exact."""
    if first.out_channels != second.in_channels:
        return f"{first.out_channels} channels feed a conv of {second.in_channels}"
    groups = math.gcd(first.groups, second.groups)
    a, b = regroup(first, groups), regroup(second, groups)
    if b.size == (1, 1) and b.padding == (0, 0):
        # y = B(Ax + a) + b = (BA)x + (Ba + b): exact for any A; B's stride multiplies A's.
        mix = _grouped(b.weight, groups)[..., 0, 0]  # (g, O/g, M/g)
        weight = torch.einsum("gom,gmihw->goihw", mix, _grouped(a.weight, groups))
        bias = b.bias + torch.einsum("gom,gm->go", mix, a.bias.reshape(groups, -1)).reshape(-1)
        stride = (a.stride[0] * b.stride[0], a.stride[1] * b.stride[1])
        return Kernel(weight.reshape(b.out_channels, -1, *a.size), bias, stride, a.padding, groups)
    if a.size == (1, 1) and a.padding == (0, 0):
        if a.stride != (1, 1):
            return "a strided 1×1 before a larger kernel samples its input: the composition is dilated"
        if b.padding != (0, 0) and bool(a.bias.ne(0).any()):
            # B pads A's output with zeros, where A's bias would have been: no conv of x computes that.
            return f"a bias before the zero-padded {b.describe()} conv meets its padding"
        mix = _grouped(a.weight, groups)[..., 0, 0]  # (g, M/g, I/g)
        weight = torch.einsum("gomhw,gmi->goihw", _grouped(b.weight, groups), mix)
        bias = b.bias + torch.einsum("gomhw,gm->go", _grouped(b.weight, groups), a.bias.reshape(groups, -1))
        return Kernel(
            weight.reshape(b.out_channels, -1, *b.size), bias.reshape(-1), b.stride, b.padding, groups
        )
    return f"{a.describe()} then {b.describe()}: both kernels are larger than 1×1"


def parallel_sum(kernels: list[Kernel]) -> Kernel | str:
    """Σ kernels over the same input as one kernel, or why not: each is padded, centred, to the largest."""
    first = kernels[0]
    for other in kernels[1:]:
        if (other.in_channels, other.out_channels) != (first.in_channels, first.out_channels):
            return "branches of different channel counts"
        if other.stride != first.stride:
            return f"branches of different strides ({first.describe()}, {other.describe()})"
    size = tuple(max(k.size[axis] for k in kernels) for axis in range(2))
    groups = math.gcd(*(k.groups for k in kernels))
    # Centred: output i reads inputs s·i − p + u, u < k; padding each side by (K − k)/2 keeps that only
    # when K − k is even and p + (K − k)/2 is the same for every branch.
    padding = tuple(first.padding[axis] + (size[axis] - first.size[axis]) // 2 for axis in range(2))
    weight = torch.zeros(first.out_channels, first.in_channels // groups, *size, dtype=torch.float64)
    bias = torch.zeros(first.out_channels, dtype=torch.float64)
    for kernel in kernels:
        extra = [size[axis] - kernel.size[axis] for axis in range(2)]
        if any(e % 2 for e in extra) or any(
            kernel.padding[axis] + extra[axis] // 2 != padding[axis] for axis in range(2)
        ):
            return f"{kernel.describe()} with padding {kernel.padding} is not centred in {size[0]}×{size[1]}"
        top, left = extra[0] // 2, extra[1] // 2
        weight[:, :, top : top + kernel.size[0], left : left + kernel.size[1]] += regroup(
            kernel, groups
        ).weight
        bias += kernel.bias
    return Kernel(weight, bias, first.stride, padding, groups)
